"""domainemb.suites: where a suite lives, opening or building it, the pair's checks, scoring models on it."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest
from compare_data import fake_models

from domainemb.errors import DataError, DomainembError
from domainemb.evaluation.results import prediction_path, result_path
from domainemb.progress import StageEvent
from domainemb.suites import (
    DEFAULT_BENCHMARKS,
    ModelRef,
    find_suite,
    find_suites,
    open_suite,
    open_suites,
    score_models,
    suite_folder,
)
from domainemb.types import Domain, Size


@pytest.fixture
def builds(monkeypatch, tiny_suites) -> list:
    """Replace the builder: a "build" copies the tiny suite of the domain into place; records each config."""
    made = []
    sources = dict(zip((Domain.FINANCE, Domain.GENERAL), tiny_suites("compare"), strict=True))

    def fake_build(config, *args, **kwargs):
        made.append(config)
        shutil.copytree(sources[config.domain], config.out, dirs_exist_ok=True)
        return SimpleNamespace(path=config.out)

    monkeypatch.setattr("domainemb.domains.build.build_benchmark", fake_build)
    return made


def _copy_with_size(suite: Path, out: Path, size: str) -> Path:
    shutil.copytree(suite, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["size"] = size
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_suites_live_in_benchmarks_as_domain_dash_size():
    assert DEFAULT_BENCHMARKS == Path("work/benchmarks")
    assert suite_folder(Domain.FINANCE, Size.LITE) == Path("work/benchmarks/finance-lite")
    assert suite_folder("general", "full", Path("elsewhere")) == Path("elsewhere/general-full")


def test_a_given_folder_is_opened_and_must_be_of_the_right_kind(tiny_suites, builds):
    domain, general = tiny_suites("compare")
    assert find_suite(Domain.FINANCE, Size.LITE, folder=domain).path == domain
    assert open_suite(Domain.GENERAL, Size.LITE, folder=general).manifest.domain == "general"
    with pytest.raises(DomainembError, match="is a general benchmark, not a domain suite"):
        open_suite(Domain.FINANCE, Size.LITE, folder=general)
    with pytest.raises(DomainembError, match="is a finance benchmark, not the general suite"):
        open_suite(Domain.GENERAL, Size.LITE, folder=domain)
    assert open_suite(Domain.GENERAL, Size.LITE, folder=domain, check_kind=False).path == domain
    assert builds == []


def test_a_given_folder_is_never_built(tmp_path, builds):
    with pytest.raises(DataError, match="not a built benchmark"):
        open_suite(Domain.FINANCE, Size.LITE, tmp_path / "benchmarks", folder=tmp_path / "missing")
    assert builds == [] and not (tmp_path / "missing").exists()


def test_the_default_folder_is_built_once_then_opened(tmp_path, builds):
    steps: list[StageEvent] = []
    root = tmp_path / "benchmarks"
    assert find_suite(Domain.FINANCE, Size.LITE, root) is None
    first = open_suite(Domain.FINANCE, Size.LITE, root, build_seed=7, on_event=steps.append)
    assert [(b.domain, b.out, b.size, b.seed) for b in builds] == [
        (Domain.FINANCE, root / "finance-lite", Size.LITE, 7)
    ]
    assert steps == [StageEvent(f"building the finance lite suite into {root / 'finance-lite'}")]
    again = open_suite(Domain.FINANCE, Size.LITE, root, on_event=steps.append)
    assert len(builds) == 1 and len(steps) == 1
    assert again.path == first.path == root / "finance-lite" and again.checksum == first.checksum


def test_an_empty_default_folder_is_built_and_a_foreign_one_refused_before_any_work(tmp_path, builds):
    root = tmp_path / "benchmarks"
    (root / "finance-lite").mkdir(parents=True)
    open_suite(Domain.FINANCE, Size.LITE, root)
    assert len(builds) == 1
    (root / "general-lite").mkdir()
    (root / "general-lite" / "notes.txt").write_text("not a benchmark")
    with pytest.raises(DataError, match="general-lite: manifest.json: missing"):
        open_suite(Domain.GENERAL, Size.LITE, root)
    assert len(builds) == 1


def test_an_altered_suite_is_refused(tiny_suites, tmp_path):
    domain, _ = tiny_suites("compare")
    for altered in (tmp_path / "given", tmp_path / "benchmarks" / "finance-full"):
        shutil.copytree(domain, altered)
        parquet = next(altered.rglob("*.parquet"))
        parquet.write_bytes(parquet.read_bytes() + b"x")
    with pytest.raises(DataError, match="checksum mismatch"):
        find_suite(Domain.FINANCE, Size.FULL, folder=tmp_path / "given")
    with pytest.raises(DataError, match="checksum mismatch"):
        find_suite(Domain.FINANCE, Size.FULL, tmp_path / "benchmarks")


def test_the_pair_is_one_size_checked_before_a_build(tiny_suites, tmp_path, builds):
    domain, general = tiny_suites("compare")
    suites = open_suites(Domain.FINANCE, Size.FULL, tmp_path, domain, general)
    assert (suites.domain.path, suites.general.path) == (domain, general)
    lite_general = _copy_with_size(general, tmp_path / "general-lite-copy", "lite")
    with pytest.raises(DomainembError, match="the domain suite is full and the general suite lite"):
        open_suites(Domain.FINANCE, Size.FULL, tmp_path, domain, lite_general)
    # general-lite would be built in tmp_path/empty: refused before the build, as the domain suite is full
    with pytest.raises(DomainembError, match="the domain suite is full and the general suite lite"):
        open_suites(Domain.FINANCE, Size.LITE, tmp_path / "empty", domain_folder=domain)
    assert builds == []
    domain_found, general_found = find_suites(Domain.FINANCE, Size.FULL, tmp_path / "empty", domain_folder=domain)
    assert domain_found.path == domain and general_found is None
    built = open_suites(Domain.FINANCE, Size.FULL, tmp_path / "empty", domain_folder=domain, build_seed=3)
    assert [(b.domain, b.seed) for b in builds] == [(Domain.GENERAL, 3)]
    assert built.general.path == tmp_path / "empty" / "general-full"


def test_score_models_returns_the_engine_scores_and_reuses_them(tiny_suites, tmp_path):
    domain, _ = tiny_suites("compare")
    bench = open_suite(Domain.FINANCE, Size.FULL, folder=domain)
    models = fake_models()
    encoders = [models["kw-all"], models["kw-half"]]
    tasks = ("DomSTS", "DomRetrieval")
    result = score_models(bench, encoders, tmp_path, tasks=tasks, use_cache=False, save_predictions=True)
    assert [(s.provenance.model, s.task) for s in result.scores] == [(e.name, t) for e in encoders for t in tasks]
    assert all(s.provenance.benchmark_checksum == bench.checksum for s in result.scores)
    for encoder in encoders:
        for task in tasks:
            assert result_path(tmp_path, encoder.model_name, encoder.revision, task).is_file()
            assert prediction_path(tmp_path, encoder.model_name, encoder.revision, task).is_file()

    calls = encoders[0].calls
    again = score_models(bench, encoders[:1], tmp_path, tasks=tasks[:1], use_cache=False)
    assert encoders[0].calls == calls  # reused from tmp_path, not run again
    assert again.scores[0].main_score == result.scores[0].main_score
    score_models(bench, encoders[:1], tmp_path, tasks=tasks[:1], use_cache=False, overwrite=True)
    assert encoders[0].calls > calls


def test_one_model_ref_for_every_stage():
    encoder = fake_models()["kw-all"]
    ref = ModelRef.of(encoder, name="given", baseline=True)
    assert (ref.name, ref.model_name, ref.fingerprint, ref.revision) == (
        "given",
        encoder.model_name,
        encoder.fingerprint,
        encoder.revision,
    )
    assert ref.baseline and ref.serves == tuple(sorted(encoder.serves))
    assert ModelRef.from_dict(json.loads(json.dumps(asdict(ref)))) == ref
    assert ref.identity() == {"name": "given", "model_name": encoder.model_name, "fingerprint": encoder.fingerprint}
    assert ModelRef.from_dict(ref.identity()) == ModelRef("given", encoder.model_name, encoder.fingerprint)
