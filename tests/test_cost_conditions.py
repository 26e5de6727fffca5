"""A throughput says what it was measured under: the machine's load just before and after the timed
encode, its CPUs and the threads the encoding ran with (issue 20, the cost axis). A kept profile keeps
the conditions of the run that measured it, records and analyses written before they were recorded
still load (and the report says nothing of what it does not know), and the report's Cost section
shows the conditions once under the table and warns when the loads were too different to compare."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from backends_data import TEXTS
from compare_data import fake_models, synthetic_analysis, tiny_compare_config
from evaluation_data import KeywordEncoder

from domainemb.compare.analysis_file import ANALYSIS_FILE, Analysis
from domainemb.compare.cost import (
    CostProfile,
    CostSummary,
    MeasurementConditions,
    encoding_threads,
    load_warning,
    measure_costs,
)
from domainemb.compare.kept import COSTS_DIR


class FakeLoad:
    """``os.getloadavg`` giving ``loads`` in turn (the last one again once they run out), logged in ``log``."""

    def __init__(self, *loads: float, log: list[str] | None = None) -> None:
        self.loads = list(loads)
        self.log = log if log is not None else []

    def __call__(self) -> tuple[float, float, float]:
        self.log.append("load")
        value = self.loads.pop(0) if len(self.loads) > 1 else self.loads[0]
        return (value, 0.0, 0.0)


def _section(page: str) -> str:
    start = page.index('<section id="cost">')
    return page[start : page.index("</section>", start)]


# ----------------------------------------------------------------------------- measuring
def test_a_timed_encode_records_the_load_around_it_the_cpus_and_the_threads(tiny_model, monkeypatch):
    import torch
    from sentence_transformers import SentenceTransformer

    from domainemb.evaluation.encoders import sentence_transformer_from_folder
    from domainemb.evaluation.lexical import bm25

    log: list[str] = []
    monkeypatch.setattr(os, "getloadavg", FakeLoad(1.7, 1.9, 0.4, 0.6, log=log))
    tiny = sentence_transformer_from_folder(tiny_model(), name="tiny")
    encode = SentenceTransformer.encode
    monkeypatch.setattr(SentenceTransformer, "encode", lambda *a, **k: log.append("encode") or encode(*a, **k))

    def clock() -> float:
        log.append("clock")
        return float(len(log))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what the encoding ran with, read then, not a default
    try:
        summary = measure_costs(
            {"tiny": tiny, "kw": KeywordEncoder("kw"), "bm25": bm25()}, TEXTS, sample_size=8, batch_size=4, clock=clock
        )
    finally:
        torch.set_num_threads(threads)
    assert summary.profile("tiny").conditions == MeasurementConditions(1.7, 1.9, os.cpu_count(), 1, "torch")
    assert summary.profile("kw").conditions == MeasurementConditions(0.4, 0.6, os.cpu_count(), None, "")  # numpy
    assert summary.profile("bm25").conditions is None  # nothing timed: no load read for it
    # The tiny model's loads are read just before and just after the timed encode, the warm-up outside them.
    assert log[:5] == ["encode", "load", "clock", "encode", "clock"] and log[5] == "load"
    assert log.count("load") == 4
    assert (
        summary.profile("tiny").conditions.describe()
        == f"{os.cpu_count()} CPUs, 1 torch thread, load average 1.70 → 1.90"
    )
    again = CostSummary.from_dict(json.loads(json.dumps(summary.to_dict())))
    assert again == summary and again.profile("kw").conditions.load_after == 0.6


def test_without_a_load_average_none_is_recorded_and_nothing_is_invented(monkeypatch):
    monkeypatch.delattr(os, "getloadavg")  # as on Windows
    (profile,) = measure_costs({"kw": KeywordEncoder("kw")}, TEXTS, sample_size=8, batch_size=4).profiles
    assert profile.conditions == MeasurementConditions(None, None, os.cpu_count(), None, "")
    assert "load" not in profile.conditions.describe()
    assert load_warning([profile]) is None


@pytest.mark.parametrize(("backend", "runtime"), [("onnx", "onnxruntime"), ("openvino", "openvino")])
def test_a_graph_backend_records_the_threads_its_runtime_reports(tiny_model, backend, runtime):
    from domainemb.evaluation.backends import with_backend
    from domainemb.evaluation.encoders import sentence_transformer_from_folder

    graph = with_backend(sentence_transformer_from_folder(tiny_model(), name="tiny"), backend)
    threads, found = encoding_threads(graph)
    assert found == runtime
    if runtime == "onnxruntime":
        assert threads is None  # its default pool size is not exposed: not known, not made up
    else:
        assert isinstance(threads, int) and threads >= 1


# ----------------------------------------------------------------------------- kept and old records
@pytest.fixture(scope="module")
def first_run(tiny_suites, tmp_path_factory):
    """One comparison of kw-all (and bm25, bow) measured at load 0.25; retrieval only, no rescoring (fast)."""
    from domainemb.compare.run import compare
    from domainemb.types import TaskType

    root = tmp_path_factory.mktemp("conditions")
    domain, general = tiny_suites("compare")
    config = tiny_compare_config(
        domain,
        general,
        root / "out",
        task_types=(TaskType.RETRIEVAL,),
        bootstrap_samples=20,
        complexity_texts=5,
        cost_sample_texts=16,
        rescore_quantized=False,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOMAINEMB_CACHE", str(root / "cache"))
        patch.setattr(os, "getloadavg", FakeLoad(0.25))
        compare(config, encoders={"kw-all": fake_models()["kw-all"]})
    return {"root": root, "config": config}


def _record_paths(out) -> dict[str, Path]:
    """Each cost record of ``out`` by the model it profiles."""
    return {json.loads(p.read_text())["profile"]["model"]: p for p in (out / COSTS_DIR).glob("*.json")}


def test_a_rerun_keeps_each_kept_profiles_conditions_and_reads_records_without_them(first_run, tmp_path, monkeypatch):
    """bow's record (and the earlier analysis) is made as one written before conditions were recorded;
    a re-run at load 1.5 with kw-half added measures only kw-half: kw-all keeps load 0.25, bow keeps none."""
    from dataclasses import replace

    from domainemb.compare.render import render_html
    from domainemb.compare.run import compare

    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    records = _record_paths(out)
    assert json.loads(records["kw-all"].read_text())["profile"]["conditions"]["load_before"] == 0.25
    bow_path = records["bow"]
    old = json.loads(bow_path.read_text())
    old["profile"].pop("conditions")
    bow_path.write_text(json.dumps(old), encoding="utf-8")
    analysis = json.loads((out / ANALYSIS_FILE).read_text())
    for profile in analysis["costs"]["profiles"]:
        profile.pop("conditions")
    (out / ANALYSIS_FILE).write_text(json.dumps(analysis), encoding="utf-8")

    monkeypatch.setenv("DOMAINEMB_CACHE", str(first_run["root"] / "cache"))
    monkeypatch.setattr(os, "getloadavg", FakeLoad(1.5))
    models = fake_models()
    config = replace(first_run["config"], out=out, models=("kw-all", "kw-half"))
    costs = compare(config, encoders={"kw-all": models["kw-all"], "kw-half": models["kw-half"]}).analysis.costs

    kw_all, kw_half, bm25, bow = (costs.profile(m) for m in ("kw-all", "kw-half", "bm25", "bow"))
    assert kw_all.kept and bow.kept and not kw_half.kept
    assert kw_all.conditions == MeasurementConditions(0.25, 0.25, os.cpu_count(), None, "")  # not re-stamped
    assert kw_half.conditions == MeasurementConditions(1.5, 1.5, os.cpu_count(), None, "")
    assert bow.conditions is None and bow.throughput == old["profile"]["throughput"]  # the old record, read
    assert bm25.conditions is None
    assert "conditions" not in json.loads(bow_path.read_text())["profile"]  # a kept record is not rewritten
    assert Analysis.from_disk(out / ANALYSIS_FILE).costs == costs

    section = _section(render_html(Analysis.from_disk(out / ANALYSIS_FILE)))
    line = section[section.index('id="cost-conditions"') :].split("</p>")[0]
    assert f"kw-all on {os.cpu_count()} CPUs, load average 0.25 → 0.25" in line
    assert f"kw-half on {os.cpu_count()} CPUs, load average 1.50 → 1.50" in line
    assert "bow" not in line and "bm25" not in line  # unknown conditions: nothing said
    assert 'id="cost-load-warning"' in section
    assert "from 0.25 (kw-all) to 1.50 (kw-half)" in section


# ----------------------------------------------------------------------------- the report
def _profile(model: str, conditions: MeasurementConditions | None, throughput: float | None = 100.0) -> CostProfile:
    return CostProfile(model, 1000, 4000, 32, throughput, 0.5, conditions=conditions)


def _page(*profiles: CostProfile) -> str:
    from domainemb.compare.render import render_html

    data = synthetic_analysis(payload=False)
    data["costs"] = CostSummary(256, 32, 42, 32, 2, "cpu", (), profiles).to_dict()
    return _section(render_html(Analysis.from_dict(data)))


def test_the_report_shows_the_conditions_once_under_the_table_and_no_warning_when_loads_match():
    section = _page(
        _profile("minilm", MeasurementConditions(1.7, 1.9, 2, 2, "torch")),
        _profile("mpnet", MeasurementConditions(1.9, 2.0, 2, 2, "torch")),
        _profile("bm25", None, throughput=None),
    )
    assert section.count('id="cost-conditions"') == 1
    assert section.index("</table>") < section.index('id="cost-conditions"')
    line = section[section.index('id="cost-conditions"') :].split("</p>")[0]
    assert "minilm on 2 CPUs, 2 torch threads, load average 1.70 → 1.90" in line
    assert "mpnet on 2 CPUs, 2 torch threads, load average 1.90 → 2.00" in line and "bm25" not in line
    assert 'id="cost-load-warning"' not in section and "not comparable" not in section


@pytest.mark.parametrize(
    ("minilm", "mpnet", "says"),
    [
        ((0.3, 0.5, 2), (1.8, 2.1, 2), "from 0.30 (minilm) to 1.80 (mpnet) before timing"),
        ((3.0, 3.1, 2), (2.9, 3.0, 2), "more load than CPUs (minilm at 3.00 on 2 CPUs, mpnet at 2.90 on 2 CPUs)"),
    ],
)
def test_the_report_warns_when_throughputs_were_measured_at_different_loads(minilm, mpnet, says):
    section = _page(
        _profile("minilm", MeasurementConditions(*minilm, 2, "torch")),
        _profile("mpnet", MeasurementConditions(*mpnet, 2, "torch")),
    )
    assert section.count('id="cost-load-warning"') == 1
    warning = section[section.index('id="cost-load-warning"') :].split("</p>")[0]
    assert "not comparable" in warning and says in warning


def test_an_analysis_written_before_conditions_were_recorded_loads_and_renders_without_them():
    from domainemb.compare.render import render_html

    data = synthetic_analysis(payload=False)
    summary = CostSummary(256, 32, 42, 32, 2, "cpu", (), (_profile("minilm", None), _profile("mpnet", None)))
    data["costs"] = summary.to_dict()
    for profile in data["costs"]["profiles"]:
        del profile["conditions"]  # the file as an older domainemb wrote it
    analysis = Analysis.from_dict(data)
    assert analysis.costs == summary and all(p.conditions is None for p in analysis.costs.profiles)
    section = _section(render_html(analysis))
    assert "<table" in section and "minilm" in section
    assert 'id="cost-conditions"' not in section and 'id="cost-load-warning"' not in section
