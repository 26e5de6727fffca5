"""`evaluate` and `domainemb evaluate`: results in mteb's layout with provenance, re-runs, bad input.

These use the keyword fake and the lexical baselines (no weights), on the tiny eight-type benchmark.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from evaluation_data import KeywordEncoder
from mteb.results import TaskResult
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.domains.benchmark import Benchmark
from domainemb.evaluation.results import load_results, result_path
from domainemb.evaluation.run import EvaluateConfig, evaluate, task_texts
from domainemb.types import TaskType

runner = CliRunner()


def test_results_are_mteb_task_results_with_provenance(tiny_benchmark, tmp_path):
    encoder = KeywordEncoder()
    result = evaluate(
        EvaluateConfig(benchmark=tiny_benchmark, models=("keywords",), out=tmp_path), encoders={"keywords": encoder}
    )

    bench = Benchmark.open(tiny_benchmark)
    assert [s.task for s in result.scores] == [t.name for t in bench.tasks]
    assert {s.task_type for s in result.scores} == set(TaskType)
    for score in result.scores:
        path = result_path(tmp_path, "test/keywords", encoder.fingerprint[:16], score.task)
        assert path == tmp_path / "results" / "test__keywords" / encoder.fingerprint[:16] / f"{score.task}.json"
        mteb_result = TaskResult.from_disk(path)  # mteb reads our files as its own
        assert mteb_result.task_name == score.task
        assert math.isclose(mteb_result.get_score(), score.main_score, abs_tol=1e-6)
        p = score.provenance
        assert p.model_fingerprint == encoder.fingerprint and p.benchmark_checksum == bench.checksum
        assert p.domainemb_version and p.mteb_version and p.seed == 42 and p.wall_time_s > 0
        assert p.task_data_revision == mteb_result.dataset_revision
        raw = json.loads(path.read_text())["domainemb"]
        assert raw["main_score_name"] == bench.task(score.task).main_score
    meta = json.loads((path.parent / "model_meta.json").read_text())
    assert meta["name"] == "test/keywords" and meta["revision"] == encoder.fingerprint[:16]
    assert {s.task for s in load_results(tmp_path)} == {t.name for t in bench.tasks}


def test_rerun_keeps_scored_tasks_unless_overwrite(tiny_benchmark, tmp_path):
    config = EvaluateConfig(
        benchmark=tiny_benchmark,
        models=("keywords",),
        tasks=("TinySTS", "TinyRetrieval"),
        out=tmp_path,
        use_cache=False,
    )
    first = evaluate(config, encoders={"keywords": KeywordEncoder()})
    assert not any(s.reused for s in first.scores)

    again = KeywordEncoder()
    second = evaluate(config, encoders={"keywords": again})
    assert again.calls == 0 and all(s.reused for s in second.scores)
    assert [s.main_score for s in second.scores] == pytest.approx([s.main_score for s in first.scores], abs=1e-12)

    forced = KeywordEncoder()
    third = evaluate(EvaluateConfig(**{**config.__dict__, "overwrite": True}), encoders={"keywords": forced})
    assert forced.calls > 0 and not any(s.reused for s in third.scores)


def test_other_seed_or_other_data_are_scored_again(tiny_benchmark, tmp_path):
    config = EvaluateConfig(
        benchmark=tiny_benchmark, models=("keywords",), tasks=("TinySTS",), out=tmp_path, use_cache=False
    )
    (first,) = evaluate(config, encoders={"keywords": KeywordEncoder()}).scores

    other_seed = KeywordEncoder()
    evaluate(EvaluateConfig(**{**config.__dict__, "seed": 7}), encoders={"keywords": other_seed})
    assert other_seed.calls > 0

    # A result recorded for other data (e.g. a rebuilt benchmark) is not reused.
    path = result_path(tmp_path, "test/keywords", first.provenance.model_fingerprint[:16], "TinySTS")
    data = json.loads(path.read_text())
    data["domainemb"]["task_data_revision"] = "0" * 16
    path.write_text(json.dumps(data))
    other_data = KeywordEncoder()
    (again,) = evaluate(config, encoders={"keywords": other_data}).scores
    assert other_data.calls > 0 and not again.reused


def test_bag_of_words_serves_every_task_type(tiny_benchmark, tmp_path):
    result = evaluate(EvaluateConfig(benchmark=tiny_benchmark, models=("bow",), out=tmp_path))
    assert {s.task_type for s in result.scores} == set(TaskType)
    for s in result.scores:
        assert math.isfinite(s.main_score) and -1 <= s.main_score <= 1, (s.task, s.main_score)
    by_task = {s.task: s.main_score for s in result.scores}
    assert by_task["TinyRetrieval"] > 0.5 and by_task["TinyClassification"] > 0.5


def test_bag_of_words_is_fitted_on_each_task_deterministically(tiny_benchmark):
    from domainemb.evaluation.lexical import BagOfWords

    texts = task_texts(Benchmark.open(tiny_benchmark), "TinyRetrieval")
    a, b = BagOfWords(), BagOfWords()
    a.prepare(texts)
    b.prepare(list(reversed(texts)) + texts[:3])
    assert (a.embed(texts[:5]) == b.embed(texts[:5])).all()
    assert a.fingerprint == b.fingerprint


def test_bm25_scores_retrieval_and_reranking(tiny_benchmark, tmp_path):
    result = evaluate(
        EvaluateConfig(
            benchmark=tiny_benchmark, models=("bm25",), tasks=("TinyRetrieval", "TinyReranking"), out=tmp_path
        )
    )
    assert [s.main_score_name for s in result.scores] == ["ndcg_at_10", "map_at_1000"]
    assert all(s.main_score > 0.5 for s in result.scores)


def test_cli_scores_and_prints_a_summary_then_keeps_scored_tasks(tiny_benchmark, tmp_path):
    args = ["evaluate", "--benchmark", str(tiny_benchmark), "--model", "bow", "--model", "bm25", "--out", str(tmp_path)]
    args += ["--tasks", "TinyRetrieval", "--tasks", "TinyReranking"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "TinyRetrieval" in first.output and "bow" in first.output and "bm25" in first.output
    files = sorted((tmp_path / "results").rglob("Tiny*.json"))
    assert len(files) == 4
    stamps = [f.stat().st_mtime_ns for f in files]

    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "kept" in second.output
    assert [f.stat().st_mtime_ns for f in files] == stamps


# ----------------------------------------------------------------------------- bad input
def _assert_clean_failure(result, out: Path, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:") and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    assert not list(out.rglob("*.json")), "no partial result file"


def test_unknown_model_suggests_close_names(tiny_benchmark, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["evaluate", "--benchmark", str(tiny_benchmark), "--model", "minlm", "--out", str(out)])
    _assert_clean_failure(result, out, "minlm", "did you mean minilm")


def test_folder_that_is_not_a_sentence_transformers_model(tiny_benchmark, tmp_path):
    out, folder = tmp_path / "out", tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    result = runner.invoke(
        app, ["evaluate", "--benchmark", str(tiny_benchmark), "--model", str(folder), "--out", str(out)]
    )
    _assert_clean_failure(result, out, "not-a-model", "not a sentence-transformers model")


def test_hub_id_fails_clearly_offline(tiny_benchmark, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["evaluate", "--benchmark", str(tiny_benchmark), "--model", "someone/some-model", "--out", str(out)]
    )
    _assert_clean_failure(result, out, "someone/some-model", "hub")


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_benchmark_with_missing_or_altered_file(tiny_benchmark, tmp_path, damage):
    bench, out = tmp_path / "bench", tmp_path / "out"
    shutil.copytree(tiny_benchmark, bench)
    target = bench / "TinySTS" / "test.parquet"
    if damage == "missing":
        target.unlink()
    else:
        target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    result = runner.invoke(app, ["evaluate", "--benchmark", str(bench), "--model", "bow", "--out", str(out)])
    _assert_clean_failure(result, out, "TinySTS/test.parquet", "missing" if damage == "missing" else "altered")


def test_task_type_the_model_cannot_serve(tiny_benchmark, tmp_path):
    out = tmp_path / "out"
    args = ["evaluate", "--benchmark", str(tiny_benchmark), "--model", "bow", "--model", "bm25", "--out", str(out)]
    result = runner.invoke(app, [*args, "--tasks", "TinyRetrieval", "--tasks", "TinyClustering"])
    _assert_clean_failure(result, out, "bm25", "Clustering", "TinyClustering")


def test_unknown_task_suggests_close_names(tiny_benchmark, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["evaluate", "--benchmark", str(tiny_benchmark), "--model", "bow", "--tasks", "TinySTs", "--out", str(out)]
    )
    _assert_clean_failure(result, out, "TinySTs", "TinySTS")


def test_result_files_are_complete_or_absent(tiny_benchmark, tmp_path, monkeypatch):
    """A failing write leaves no result file (written to a temporary name, then renamed)."""
    score = evaluate(
        EvaluateConfig(benchmark=tiny_benchmark, models=("bow",), tasks=("TinySTS",), out=tmp_path)
    ).scores[0]
    target = tmp_path / "again" / "TinySTS.json"

    class Boom(Exception):
        pass

    def broken_to_disk(self, path):
        path.write_text('{"partial": ')
        raise Boom

    monkeypatch.setattr(TaskResult, "to_disk", broken_to_disk)
    with pytest.raises(Boom):
        score.to_disk(target)
    assert not target.exists() and not list(target.parent.iterdir())


def test_save_predictions_keeps_mteb_prediction_files_of_the_tasks_that_run(tiny_benchmark, tmp_path):
    from domainemb.evaluation.results import prediction_path

    config = EvaluateConfig(
        benchmark=tiny_benchmark,
        models=("keywords",),
        tasks=("TinySTS", "TinyRetrieval"),
        out=tmp_path,
        use_cache=False,
    )
    encoder = KeywordEncoder()
    assert not any(s.reused for s in evaluate(config, encoders={"keywords": encoder}).scores)
    paths = [prediction_path(tmp_path, "test/keywords", encoder.fingerprint[:16], t) for t in config.tasks]
    assert not any(p.exists() for p in paths)

    # Scored earlier without predictions: the scores are kept as they are...
    with_predictions = EvaluateConfig(**{**config.__dict__, "save_predictions": True})
    assert all(s.reused for s in evaluate(with_predictions, encoders={"keywords": KeywordEncoder()}).scores)
    assert not any(p.exists() for p in paths)
    # ...and --overwrite runs them again, now writing mteb's prediction files.
    rerun = evaluate(
        EvaluateConfig(**{**with_predictions.__dict__, "overwrite": True}), encoders={"keywords": KeywordEncoder()}
    )
    assert not any(s.reused for s in rerun.scores)
    for path in paths:
        assert path.parent == tmp_path / "predictions" / "test__keywords" / encoder.fingerprint[:16]
        assert json.loads(path.read_text())["default"]["test"]  # mteb's {subset: {split: predictions}}
