"""Nothing to do costs nothing: a `domainemb compare` re-run whose results are all kept loads no model,
reads no task data, hashes no weights and measures nothing; a changed model or changed cost settings
are measured again, and a cost profile taken from an earlier run says so (issue 20, part 4).

The runs go through the command line, on the tiny retrieval + STS suites with the tiny transformer
(a real model folder, loaded by name) and the real bm25 and bow baselines."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
from cli_checks import compare_summary, invoke_ok
from compare_data import age_folder, compare_args

from domainemb.compare.analysis_file import Analysis
from domainemb.compare.config import CompareConfig
from domainemb.compare.cost import cpu_description
from domainemb.compare.kept import COSTS_DIR, KEPT_FILE, CostRecords, cost_inputs, find_kept
from domainemb.compare.run import ANALYSIS_FILE
from domainemb.domains.benchmark import Benchmark
from domainemb.domains.fetch import sha256_file
from domainemb.types import Domain


@pytest.fixture(scope="module")
def first_run(tiny_suites, tiny_model, tmp_path_factory):
    """One cold comparison: the tiny model (a copy, dated an hour back), bm25 and bow; measured and written."""
    root = tmp_path_factory.mktemp("kept")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOMAINEMB_CACHE", str(root / "cache"))
        model = root / "models" / "tiny"
        shutil.copytree(tiny_model(), model)
        age_folder(model)
        domain, general = tiny_suites("adapt")
        args = compare_args([model], root / "out", domain, general)
        result = invoke_ok(args)
    return {"root": root, "model": model, "domain": domain, "general": general, "args": args, "output": result.output}


@pytest.fixture
def guarded(monkeypatch, first_run):
    """Every way a run could load a model, read task data, hash a file or measure a cost raises."""
    import mteb
    import polars
    from sentence_transformers import SentenceTransformer

    import domainemb.compare.cost as cost
    import domainemb.compare.run as compare_run
    import domainemb.domains.fetch as fetch
    import domainemb.evaluation.encoders as encoders

    monkeypatch.setenv("DOMAINEMB_CACHE", str(first_run["root"] / "cache"))
    touched: list[str] = []

    def forbidden(what):
        def refuse(*args, **kwargs):
            touched.append(what)
            raise AssertionError(f"a kept re-run {what}")

        return refuse

    monkeypatch.setattr(encoders, "load_encoder", forbidden("loaded a model"))
    monkeypatch.setattr(compare_run, "load_encoder", forbidden("loaded a model"))
    monkeypatch.setattr(encoders, "sentence_transformer_from_folder", forbidden("loaded a model"))
    monkeypatch.setattr(SentenceTransformer, "__init__", forbidden("built a SentenceTransformer"))
    monkeypatch.setattr(Benchmark, "tables", forbidden("read task data"))
    monkeypatch.setattr(Benchmark, "verify_task", forbidden("read task data"))
    monkeypatch.setattr(polars, "read_parquet", forbidden("read a parquet file"))
    monkeypatch.setattr(fetch, "sha256_file", forbidden("hashed a file"))
    monkeypatch.setattr(cost, "measure_costs", forbidden("measured throughput"))
    monkeypatch.setattr(cost, "rescore", forbidden("rescored with quantized vectors"))
    monkeypatch.setattr(mteb, "evaluate", forbidden("ran mteb"))
    return touched


def _analysis(out) -> Analysis:
    return Analysis.from_disk(out / ANALYSIS_FILE)


def test_the_first_run_measures_and_keeps_each_models_cost(first_run):
    out = first_run["root"] / "out"
    costs = _analysis(out).costs
    assert [p.model for p in costs.profiles] == [str(first_run["model"]), "bm25", "bow"]
    tiny = costs.profiles[0]
    assert not any(p.kept for p in costs.profiles)
    assert tiny.throughput > 0 and tiny.measured_at and "thread" in tiny.measured_on
    assert (
        tiny.measured_on.startswith(cpu_description() + ", ") and "cores" in tiny.measured_on
    )  # the CPU, not the host
    assert [v.label for v in tiny.variants] == ["float32", "int8", "binary"]
    assert len(list((out / COSTS_DIR).glob("*.json"))) == 3  # one record per model
    assert (out / KEPT_FILE).is_file()
    assert "kept:" not in first_run["output"]


def test_a_kept_rerun_loads_no_model_reads_no_task_data_and_prints_the_same_table(first_run, guarded):
    out = first_run["root"] / "out"
    before = (out / ANALYSIS_FILE).read_bytes()
    stamp = (out / ANALYSIS_FILE).stat().st_mtime_ns
    again = invoke_ok(first_run["args"])
    assert guarded == []
    assert "kept: every result is unchanged" in again.output
    assert compare_summary(again.output) == compare_summary(first_run["output"])
    assert (out / ANALYSIS_FILE).read_bytes() == before and (out / ANALYSIS_FILE).stat().st_mtime_ns == stamp
    html = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert 'id="cost"' in html and str(first_run["model"].name) in html


def test_a_touched_model_is_hashed_again_and_still_kept(first_run, guarded, monkeypatch):
    """A new modification time is a new stat key: the folder is hashed again (once); its content, and
    so its fingerprint and every result, are unchanged, so nothing is loaded or measured."""
    import domainemb.domains.fetch as fetch

    hashed = []
    monkeypatch.setattr(fetch, "sha256_file", lambda path: hashed.append(path) or sha256_file(path))
    weights = next(first_run["model"].rglob("*.safetensors"))
    stamp = time.time() - 60
    os.utime(weights, (stamp, stamp))
    again = invoke_ok(first_run["args"])
    assert guarded == [] and "kept: every result is unchanged" in again.output
    assert weights in hashed
    hashed.clear()
    invoke_ok(first_run["args"])  # remembered again: not hashed a second time
    assert hashed == []


def test_a_changed_model_is_scored_and_measured_again(first_run, tmp_path, monkeypatch):
    """The same out folder (a copy) and a model whose weights changed: it is loaded, scored and measured;
    bm25 and bow are unchanged, so their cost profiles are kept and the report says so."""
    import torch
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("DOMAINEMB_CACHE", str(first_run["root"] / "cache"))
    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    model = tmp_path / "models" / "tiny"  # same folder name: its results are filed beside the old ones
    shutil.copytree(first_run["model"], model)
    changed = SentenceTransformer(str(model), device="cpu")
    with torch.no_grad():
        next(changed.parameters()).add_(0.5)
    changed.save(str(model))
    age_folder(model)
    before = _analysis(out)
    result = invoke_ok(compare_args([model], out, first_run["domain"], first_run["general"]))
    assert "kept:" not in result.output
    after = _analysis(out)
    assert after.created >= before.created and after.models[0].fingerprint != before.models[0].fingerprint
    tiny, bm25, bow = after.costs.profiles
    assert not tiny.kept and tiny.throughput > 0 and tiny.variants
    assert bm25.kept and bow.kept
    assert bow.measured_at == before.costs.profile("bow").measured_at  # when it was measured, not now
    assert bow.throughput == before.costs.profile("bow").throughput
    html = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert 'id="cost-kept"' in html and f"bow, measured {bow.measured_at} on {bow.measured_on}" in html
    assert len(list((out / COSTS_DIR).glob("*.json"))) == 4  # the changed model's record beside the old one


def test_changed_cost_settings_measure_again(first_run, tmp_path, monkeypatch):
    import domainemb.compare.cost as cost

    monkeypatch.setenv("DOMAINEMB_CACHE", str(first_run["root"] / "cache"))
    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    measured = []
    real = cost.measure_costs
    monkeypatch.setattr(
        cost, "measure_costs", lambda encoders, *a, **k: measured.append(list(encoders)) or real(encoders, *a, **k)
    )
    before = _analysis(out)
    invoke_ok(compare_args([first_run["model"]], out, first_run["domain"], first_run["general"], cost_texts=12))
    after = _analysis(out)
    assert measured == [[str(first_run["model"]), "bm25", "bow"]]
    assert after.costs.sample_texts == 12 and not any(p.kept for p in after.costs.profiles)
    assert after.statistics.means == before.statistics.means  # the scores themselves were kept


def test_the_cost_key_holds_every_setting_that_decides_a_profile(first_run):
    from domainemb.evaluation.lexical import bag_of_words

    bench = Benchmark.open(first_run["domain"], verify=False)
    config = CompareConfig(domain=Domain.FINANCE, models=("x",), out=first_run["root"] / "out")
    encoder = bag_of_words()

    def path(**changes):
        changed = replace(config, **changes)
        return CostRecords(changed.out_dir / COSTS_DIR, cost_inputs(changed, bench, bench.tasks)).path(encoder)

    base = path()
    assert path() == base
    for changes in (
        {"cost_sample_texts": 17},
        {"batch_size": 8},
        {"seed": 1},
        {"devices": ("cpu", "cpu")},
        {"backend": "onnx"},
    ):
        assert path(**changes) != base, changes
    assert path(rescore_quantized=False) != base
    assert CostRecords(config.out_dir / COSTS_DIR, cost_inputs(config, bench, bench.tasks[:1])).path(encoder) != base


def test_overwrite_a_missing_result_or_a_replaced_analysis_is_not_kept(first_run, tmp_path, monkeypatch):
    monkeypatch.setenv("DOMAINEMB_CACHE", str(first_run["root"] / "cache"))
    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    config = CompareConfig(
        domain=Domain.FINANCE,
        models=(str(first_run["model"]),),
        out=out,
        domain_benchmark=first_run["domain"],
        general_benchmark=first_run["general"],
        bootstrap_samples=30,
        complexity_texts=8,
        cost_sample_texts=16,
    )
    assert find_kept(config) is not None  # the library call with the command line's settings is kept
    relative = Path(os.path.relpath(first_run["domain"]))
    assert find_kept(replace(config, domain_benchmark=relative)) is not None  # one suite, named another way
    assert find_kept(replace(config, overwrite=True)) is None
    assert find_kept(replace(config, bootstrap_samples=31)) is None
    data = json.loads((out / ANALYSIS_FILE).read_text())
    (out / ANALYSIS_FILE).write_text(json.dumps({**data, "created": "2000-01-01T00:00:00+00:00"}))
    assert find_kept(config) is None  # not the analysis kept.json was written for
    shutil.copytree(first_run["root"] / "out", out, dirs_exist_ok=True)
    assert find_kept(config) is not None
    next((out / "general" / "results").rglob("TinyGenSTS.json")).unlink()
    assert find_kept(config) is None
