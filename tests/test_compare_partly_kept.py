"""Nothing to do costs nothing, model by model (issue 20, part 4): in a `domainemb compare` re-run that is
not kept as a whole (a model or a task added), a model whose every result and cost profile are kept is
not loaded; its scores and profile are read from disk, and the table, analysis and report are those of
a run that loads every model. `domainemb evaluate` with several models loads only those with work left.

The runs go through the command line, on the tiny retrieval + STS suites with two tiny transformers
(real model folders, loaded by name) and the real bm25 and bow baselines."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_checks import compare_summary, invoke_ok
from compare_data import age_folder, compare_args

from domainemb.compare.analysis_file import Analysis
from domainemb.compare.kept import KEPT_FILE
from domainemb.compare.run import ANALYSIS_FILE

#: The first run leaves out the general STS task; a later run adds it.
FIRST_TASKS = ("TinyFinRetrieval", "TinyFinSTS", "TinyGenRetrieval")


@pytest.fixture(scope="module")
def first_run(tiny_suites, tiny_model, tmp_path_factory):
    """One cold comparison of model A (a tiny model, dated an hour back), bm25 and bow, without the
    general STS task; model B (another tiny model) is only copied, for the runs that add it."""
    root = tmp_path_factory.mktemp("partly-kept")
    models = {"a": root / "models" / "a", "b": root / "models" / "b"}
    shutil.copytree(tiny_model(), models["a"])
    shutil.copytree(tiny_model(seed=1), models["b"])
    for folder in models.values():
        age_folder(folder)
    domain, general = tiny_suites("adapt")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOMAINEMB_CACHE", str(root / "cache"))
        invoke_ok(compare_args([models["a"]], root / "out", domain, general, tasks=FIRST_TASKS))
    return {"root": root, **models, "domain": domain, "general": general}


@pytest.fixture
def loads(monkeypatch, first_run):
    """Every model the comparison loads, by name; each run's costs measured with a fixed clock, date and
    load average (so two runs that measure the same model write the same profile), and fixed analysis
    and report dates."""
    import os

    import domainemb.compare.cost as cost
    import domainemb.compare.render as render
    import domainemb.compare.run as compare_run

    monkeypatch.setenv("DOMAINEMB_CACHE", str(first_run["root"] / "cache"))
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 1.0, 1.0))  # the machine's load moves between runs
    loaded: list[str] = []
    real_load, real_measure = compare_run.load_encoder, cost.measure_costs

    def load(name):
        loaded.append(name)
        return real_load(name)

    def measure(encoders, texts, **kwargs):
        ticks = itertools.count()
        summary = real_measure(encoders, texts, clock=lambda: float(next(ticks)), **kwargs)
        fixed = tuple(replace(p, measured_at="2026-01-01T00:00:00+00:00") for p in summary.profiles)
        return replace(summary, profiles=fixed)

    class FixedDate(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, tzinfo=UTC)

    monkeypatch.setattr(compare_run, "load_encoder", load)
    monkeypatch.setattr(cost, "measure_costs", measure)
    monkeypatch.setattr(compare_run, "datetime", FixedDate)
    monkeypatch.setattr(render, "datetime", FixedDate)
    return loaded


def _copy_out(first_run, folder: Path) -> Path:
    out = folder / "out"
    shutil.copytree(first_run["root"] / "out", out)
    return out


def test_an_added_model_is_the_only_one_loaded_and_the_outputs_are_those_of_a_full_rerun(
    first_run, loads, tmp_path, monkeypatch
):
    import domainemb.compare.run as compare_run

    a, b = str(first_run["a"]), str(first_run["b"])
    first = Analysis.from_disk(first_run["root"] / "out" / ANALYSIS_FILE)
    partly = _copy_out(first_run, tmp_path / "partly")
    kept = invoke_ok(compare_args([a, b], partly, first_run["domain"], first_run["general"], tasks=FIRST_TASKS))
    assert loads == [b]  # A, bm25 and bow have every result and their cost kept
    assert "kept:" not in kept.output  # not kept as a whole: B is new

    loads.clear()
    full = _copy_out(first_run, tmp_path / "full")
    with monkeypatch.context() as before:  # the run as it was before: every model is loaded
        before.setattr(compare_run, "kept_models", lambda *args, **kwargs: {})
        again = invoke_ok(compare_args([a, b], full, first_run["domain"], first_run["general"], tasks=FIRST_TASKS))
    assert loads == [a, b, "bm25", "bow"]

    assert compare_summary(kept.output) == compare_summary(again.output)
    for name in (ANALYSIS_FILE, KEPT_FILE, "report/index.html"):
        assert (partly / name).read_text(encoding="utf-8").replace(str(partly), str(full)) == (full / name).read_text(
            encoding="utf-8"
        ), name
    analysis = Analysis.from_disk(partly / ANALYSIS_FILE)
    assert analysis.model_names == [a, b, "bm25", "bow"]
    assert [p.kept for p in analysis.costs.profiles] == [True, False, True, True]
    for name in (a, "bm25", "bow"):  # measured by the first run, and said so
        assert analysis.costs.profile(name).measured_at == first.costs.profile(name).measured_at
        assert analysis.statistics.means["domain"][name] == first.statistics.means["domain"][name]


def test_a_kept_model_with_a_task_added_is_loaded(first_run, loads, tmp_path, monkeypatch):
    """A's (and bow's) results lack the added general STS task: they are loaded and scored on it; bm25
    serves no STS task, so its results are all kept and it is not loaded. Every cost is kept."""
    import domainemb.compare.cost as cost

    a = str(first_run["a"])
    out = _copy_out(first_run, tmp_path)
    measured = []
    real = cost.measure_costs
    monkeypatch.setattr(
        cost, "measure_costs", lambda encoders, *args, **kw: measured.append(1) or real(encoders, *args, **kw)
    )
    invoke_ok(compare_args([a], out, first_run["domain"], first_run["general"], tasks=(*FIRST_TASKS, "TinyGenSTS")))
    assert loads == [a, "bow"]
    assert measured == []  # the domain tasks are unchanged: every cost record still holds
    analysis = Analysis.from_disk(out / ANALYSIS_FILE)
    assert [p.kept for p in analysis.costs.profiles] == [True, True, True]
    assert [t.name for t in analysis.suites["general"].tasks] == ["TinyGenRetrieval", "TinyGenSTS"]
    scored = sorted(p.parent.parent.name for p in (out / "general" / "results").rglob("TinyGenSTS.json"))
    assert scored == ["domainemb__tfidf-bow", "local__a"]


def test_evaluate_with_several_models_loads_only_the_one_with_work_left(
    tiny_benchmark, first_run, tmp_path, monkeypatch
):
    from domainemb.evaluation import run as run_module
    from domainemb.evaluation.run import EvaluateConfig, evaluate

    a, b = str(first_run["a"]), str(first_run["b"])
    monkeypatch.setenv("DOMAINEMB_CACHE", str(first_run["root"] / "cache"))

    def config(*models):
        return EvaluateConfig(
            benchmark=tiny_benchmark, models=models, tasks=("TinyRetrieval", "TinySTS"), out=tmp_path, use_cache=False
        )

    first = evaluate(config(a))
    loaded: list[str] = []
    real = run_module.load_encoder
    monkeypatch.setattr(run_module, "load_encoder", lambda name: loaded.append(name) or real(name))
    second = evaluate(config(a, b))
    assert loaded == [b]
    assert [(s.task, s.reused) for s in second.scores] == [
        ("TinyRetrieval", True),
        ("TinySTS", True),
        ("TinyRetrieval", False),
        ("TinySTS", False),
    ]
    assert [s.main_score for s in second.scores[:2]] == [s.main_score for s in first.scores]
