"""Trust in the scores (issue 17): a stored score is kept only when the mteb that scored it is the installed
one. After an mteb upgrade, `evaluate` runs the task again (one warning names the file and both versions),
and `compare` counts a model whose kept scores another mteb computed as having work left, both when the
run is kept as a whole and model by model (the partly kept path).

An upgrade is played by rewriting the mteb version a result file records, as an older mteb would have
written it; the installed mteb is left as it is."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from compare_data import fake_models, tiny_compare_config
from evaluation_data import KeywordEncoder

from domainemb.compare.config import CompareConfig
from domainemb.compare.kept import find_kept
from domainemb.compare.run import compare
from domainemb.evaluation.results import PROVENANCE_KEY, TaskScore, result_path
from domainemb.evaluation.run import EvaluateConfig, evaluate, installed_mteb_version

#: An mteb version that is not the installed one (the installed mteb is 2.x).
OTHER = "1.0.0"
TASKS = ("TinyRetrieval", "TinySTS")
#: Retrieval (bm25 serves it) and STS of each tiny compare suite: enough to score in seconds.
COMPARE_TASKS = ("DomRetrieval", "DomSTS", "GenRetrieval", "GenSTS")


def _stamp(path: Path, version: str) -> None:
    """Rewrite the mteb version ``path`` records (nothing else changes)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data[PROVENANCE_KEY]["mteb_version"] = version
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _version_warning(path: Path) -> str:
    return f"{path}: scored by mteb {OTHER}, not the installed mteb {installed_mteb_version()}; running the task again"


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_the_installed_version_is_mteb_s_own():
    import mteb

    assert installed_mteb_version() == mteb.__version__ != OTHER


# ----------------------------------------------------------------------------- evaluate
def _evaluate_config(bench: Path, out: Path, encoder: KeywordEncoder) -> EvaluateConfig:
    return EvaluateConfig(benchmark=bench, models=(encoder.name,), tasks=TASKS, out=out, use_cache=False)


def test_evaluate_scores_again_a_result_another_mteb_scored_and_says_so_once(tiny_benchmark, tmp_path, caplog):
    encoder = KeywordEncoder()
    config = _evaluate_config(tiny_benchmark, tmp_path, encoder)
    first = evaluate(config, encoders={encoder.name: encoder})
    stale = result_path(tmp_path, encoder.model_name, encoder.revision, "TinySTS")
    _stamp(stale, OTHER)
    calls = encoder.calls
    caplog.set_level(logging.WARNING)
    again = evaluate(config, encoders={encoder.name: encoder})
    assert [(s.task, s.reused) for s in again.scores] == [("TinyRetrieval", True), ("TinySTS", False)]
    assert encoder.calls > calls
    assert _warnings(caplog) == [_version_warning(stale)]  # one line, naming the file and both versions
    assert TaskScore.from_disk(stale).provenance.mteb_version == installed_mteb_version()
    assert again.scores[1].main_score == first.scores[1].main_score  # the same model and evaluator


def test_evaluate_keeps_a_result_the_installed_mteb_scored_without_encoding(tiny_benchmark, tmp_path, caplog):
    """The control: the same rewrite with the installed version keeps every result (nothing encoded)."""
    encoder = KeywordEncoder()
    config = _evaluate_config(tiny_benchmark, tmp_path, encoder)
    evaluate(config, encoders={encoder.name: encoder})
    for task in TASKS:
        _stamp(result_path(tmp_path, encoder.model_name, encoder.revision, task), installed_mteb_version())
    calls = encoder.calls
    caplog.set_level(logging.WARNING)
    again = evaluate(config, encoders={encoder.name: encoder})
    assert [s.reused for s in again.scores] == [True, True]
    assert encoder.calls == calls
    assert _warnings(caplog) == []


# ----------------------------------------------------------------------------- compare
@pytest.fixture(scope="module")
def compared(tiny_suites, tmp_path_factory) -> CompareConfig:
    """One comparison of the keyword model kw-all (and the bm25 and bow baselines), measuring no cost."""
    root = tmp_path_factory.mktemp("kept-mteb-version")
    domain, general = tiny_suites("compare")
    config = tiny_compare_config(
        domain,
        general,
        root / "out",
        tasks=COMPARE_TASKS,
        bootstrap_samples=30,
        complexity_texts=8,
        cost_sample_texts=0,
        use_cache=False,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOMAINEMB_CACHE", str(root / "cache"))
        compare(config, encoders=fake_models())
    return config


def _copy(config: CompareConfig, folder: Path, *, stamp: str | None = None) -> tuple[CompareConfig, list[Path]]:
    """The comparison's output copied to ``folder``; with ``stamp``, kw-all's every result file records that
    mteb version. Returns the copy's config and kw-all's result files."""
    shutil.copytree(config.out_dir, folder)
    model = fake_models()["kw-all"]
    paths = [
        result_path(folder / key, model.model_name, model.revision, task)
        for key, tasks in (("domain", COMPARE_TASKS[:2]), ("general", COMPARE_TASKS[2:]))
        for task in tasks
    ]
    assert all(p.is_file() for p in paths)
    for path in paths if stamp is not None else ():
        _stamp(path, stamp)
    return replace(config, out=folder), paths


def test_a_comparison_whose_results_another_mteb_scored_is_not_kept_as_a_whole(compared, tmp_path):
    unchanged, _ = _copy(compared, tmp_path / "unchanged")
    assert find_kept(unchanged, fake_models()) is not None  # the control: the same files, as written
    upgraded, _ = _copy(compared, tmp_path / "upgraded", stamp=OTHER)
    assert find_kept(upgraded, fake_models()) is None


def test_compare_partly_kept_counts_a_model_scored_by_another_mteb_as_work_left(
    compared, tmp_path, monkeypatch, caplog
):
    """kw-half is added, so the run is not kept as a whole; kw-all's results, all from another mteb, are
    scored again (each named once), while bm25 and bow, scored by the installed mteb, are kept."""
    import domainemb.compare.run as compare_run

    config, stale = _copy(compared, tmp_path / "out", stamp=OTHER)
    config = replace(config, models=("kw-all", "kw-half"))
    kept: list[str] = []
    real = compare_run.kept_models

    def kept_models(*args, **kwargs):
        found = real(*args, **kwargs)
        kept.extend(found)
        return found

    monkeypatch.setattr(compare_run, "kept_models", kept_models)
    monkeypatch.setenv("DOMAINEMB_CACHE", str(tmp_path / "cache"))
    encoders = fake_models()
    caplog.set_level(logging.WARNING)
    result = compare(config, encoders=encoders)
    assert not result.kept
    assert kept == ["bm25", "bow"]  # kw-all has work left
    assert encoders["kw-all"].calls > 0
    assert sorted(m for m in _warnings(caplog) if "scored by mteb" in m) == sorted(_version_warning(p) for p in stale)
    assert {TaskScore.from_disk(p).provenance.mteb_version for p in stale} == {installed_mteb_version()}
