"""Tasks that carry an MTEB task's name reproduce mteb's published all-MiniLM-L6-v2 scores.

The references (tests/mteb_references.json) were read from the MTEB results repository, each with
the file and mteb version it came from. Every task of every suite that carries an mteb task's name,
or says "as MTEB", must have one (or be listed as not stored there, with the reason), and scores
within its tolerance of it. The cheap tasks (STS) run in the default test run; the rest are marked
``reference`` (deselected by default) and run by benchmarks/bench_reference.py, or with
``pytest -m reference tests/test_mteb_reference.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evaluation_data import build_from_specs

from domainemb.domains.benchmark import Benchmark
from domainemb.domains.registry import all_tasks, get_task
from domainemb.evaluation.encoders import load_encoder
from domainemb.evaluation.mteb_tasks import mteb_definition, mteb_settings, to_mteb_task
from domainemb.evaluation.run import EvaluateConfig, evaluate
from domainemb.types import Domain, TaskType

REFERENCES = json.loads((Path(__file__).parent / "mteb_references.json").read_text(encoding="utf-8"))
TASKS: dict[str, dict] = REFERENCES["tasks"]


def _mteb_named() -> list[str]:
    """Our tasks that carry an mteb task's name or say they are as MTEB's."""
    return sorted(n for n, spec in all_tasks().items() if mteb_definition(n) or "as MTEB" in spec.description)


def test_every_mteb_named_task_has_a_reference():
    named = _mteb_named()
    assert {"EmotionClassification", "SICKR", "SummEvalSummarization.v2"} <= set(named)
    for name in named:
        assert name in TASKS or name in REFERENCES["not_stored"], f"{name} carries an MTEB name but has no reference"
    assert not set(TASKS) & set(REFERENCES["not_stored"])
    for name, ref in TASKS.items():
        spec = get_task(name)
        mteb_task = mteb_definition(ref["mteb_task"])
        assert mteb_task is not None, ref["mteb_task"]
        assert mteb_task.metadata.type == spec.type.value and mteb_task.metadata.main_score == spec.main_score, name
        assert ref["file"].startswith("results/sentence-transformers__all-MiniLM-L6-v2/"), name
        assert ref["file"].endswith(f"/{ref['mteb_task']}.json") and ref["mteb_version"] and ref["split"] == "test"
        assert 0 < ref["main_score"] < 1
        assert ref["cheap"] == (spec.type in (TaskType.STS, TaskType.PAIR_CLASSIFICATION)), name


def test_no_task_carries_the_name_of_mtebs_v1_summeval():
    # Our summarization task is scored with mteb's current evaluator: that is the v2 score.
    assert "SummEval" not in all_tasks()
    assert get_task("SummEvalSummarization.v2").type is TaskType.SUMMARIZATION


def test_mteb_named_tasks_take_mtebs_settings(tmp_path):
    assert mteb_settings("EmotionClassification", TaskType.CLASSIFICATION) == {
        "samples_per_label": 16,
        "n_experiments": 10,
        "train_split": "train",
    }
    assert mteb_settings("AmazonCounterfactualClassification", TaskType.CLASSIFICATION)["samples_per_label"] == 32
    assert mteb_settings("MRClassification", TaskType.CLASSIFICATION) == {}
    assert mteb_settings("STS12", TaskType.STS) == {}

    name = "AmazonCounterfactualClassification"
    bench = Benchmark.open(build_from_specs(tmp_path / "bench", Domain.GENERAL, (get_task(name),)))
    task = to_mteb_task(bench, name)
    assert task.samples_per_label == 32 and task.n_experiments == 10
    # mteb evaluates its validation and test splits; the tables hold test only.
    assert mteb_definition(name).metadata.eval_splits == ["validation", "test"]
    assert task.metadata.eval_splits == ["test"]


@pytest.fixture(scope="module")
def minilm():
    return load_encoder("minilm")


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow if r["cheap"] else pytest.mark.reference) for n, r in TASKS.items()],
)
def test_full_task_reproduces_mtebs_published_score(name, minilm, tmp_path):
    ref = TASKS[name]
    bench = build_from_specs(tmp_path / "bench", Domain.GENERAL, (get_task(name),))
    config = EvaluateConfig(benchmark=bench, models=("minilm",), out=tmp_path / "results", use_cache=False)
    (score,) = evaluate(config, encoders={"minilm": minilm}).scores
    assert score.main_score == pytest.approx(ref["main_score"], abs=REFERENCES["tolerance"]), (name, ref["file"])
