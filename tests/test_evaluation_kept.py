"""Nothing to do costs nothing: a re-run whose results are all kept loads no model, reads no task
data and hashes no weights again (issue 20, part 4)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import domainemb.domains.fetch as fetch
from domainemb.domains.benchmark import Benchmark
from domainemb.evaluation import encoders as encoders_module
from domainemb.evaluation import run as run_module
from domainemb.evaluation.encoders import fingerprint_folder, identify
from domainemb.evaluation.run import EvaluateConfig, evaluate

TASKS = ("TinyRetrieval", "TinyReranking")


@pytest.fixture
def model_folder(tiny_bert_folder, tmp_path):
    """A private copy of the tiny model whose files are old enough to be remembered."""
    import os
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_bert_folder, folder)
    old = time.time() - 60
    for path in folder.rglob("*"):
        os.utime(path, (old, old))
    return folder


def _config(bench, out, *models):
    return EvaluateConfig(benchmark=bench, models=models, tasks=TASKS, out=out, use_cache=False)


def test_a_kept_rerun_loads_no_model_reads_no_task_data_and_hashes_nothing(
    tiny_benchmark, model_folder, tmp_path, monkeypatch
):
    out = tmp_path / "results"
    first = evaluate(_config(tiny_benchmark, out, str(model_folder), "bm25"))
    assert not any(s.reused for s in first.scores)

    def forbidden(*args, **kwargs):
        raise AssertionError("work done for a kept result")

    monkeypatch.setattr(run_module, "load_encoder", forbidden)
    monkeypatch.setattr(Benchmark, "verify_task", forbidden)
    monkeypatch.setattr(Benchmark, "tables", forbidden)
    monkeypatch.setattr(fetch, "sha256_file", forbidden)  # no weight file is hashed again
    second = evaluate(_config(tiny_benchmark, out, str(model_folder), "bm25"))
    assert all(s.reused for s in second.scores)
    assert [(s.task, s.main_score, s.provenance.model_fingerprint) for s in second.scores] == [
        (s.task, s.main_score, s.provenance.model_fingerprint) for s in first.scores
    ]


def test_one_missing_task_loads_the_model_and_verifies_the_data(tiny_benchmark, model_folder, tmp_path, monkeypatch):
    out = tmp_path / "results"
    evaluate(_config(tiny_benchmark, out, str(model_folder)))
    verified = []
    real = Benchmark.verify_task
    monkeypatch.setattr(Benchmark, "verify_task", lambda self, task: verified.append(task.name) or real(self, task))
    config = EvaluateConfig(
        benchmark=tiny_benchmark,
        models=(str(model_folder),),
        tasks=(*TASKS, "TinyClustering"),
        out=out,
        use_cache=False,
    )
    scores = evaluate(config).scores
    assert [s.reused for s in scores] == [True, True, False]
    assert verified == [*TASKS, "TinyClustering"]  # every task file is checked before any task runs


def test_an_altered_weight_file_is_hashed_again_and_scored_again(tiny_benchmark, model_folder, tmp_path):
    out = tmp_path / "results"
    before = fingerprint_folder(model_folder)
    evaluate(_config(tiny_benchmark, out, str(model_folder)))
    weights = next(model_folder.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # same size; only its modification time and content change
    weights.write_bytes(bytes(data))
    assert fingerprint_folder(model_folder) != before
    assert not any(s.reused for s in evaluate(_config(tiny_benchmark, out, str(model_folder))).scores)


def test_identity_matches_the_loaded_encoder(model_folder):
    for name in ("bm25", "bow", "minilm", str(model_folder)):
        identity, encoder = identify(name), encoders_module.load_encoder(name)
        assert (identity.model_name, identity.fingerprint) == (encoder.model_name, encoder.fingerprint), name
    assert identify("org/some-hub-model") is None  # a hub id is loaded, not guessed


def test_a_kept_cli_rerun_imports_neither_torch_nor_mteb(tiny_benchmark, model_folder, tmp_path):
    """The whole command, as a user runs it: the kept table without importing the heavy libraries."""
    out = tmp_path / "results"
    evaluate(_config(tiny_benchmark, out, str(model_folder), "bm25"))
    probe = (
        "import sys; sys.argv = ['domainemb', 'evaluate', '--benchmark', sys.argv[1], '--model', sys.argv[2],"
        " '--model', 'bm25', '--tasks', 'TinyRetrieval', '--tasks', 'TinyReranking', '--out', sys.argv[3], '--no-cache'];\n"
        "from domainemb.cli.main import app\n"
        "try:\n    app()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "heavy = sorted(m for m in ('torch', 'mteb', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print('HEAVY', heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tiny_benchmark), str(model_folder), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(kept)" in done.stdout
    assert "HEAVY []" in done.stdout, done.stdout[-500:]


def test_a_kept_result_is_filed_under_the_name_given_now(tiny_benchmark, model_folder, tmp_path):
    """The same weights in another folder of the same name (same results path): the result is kept, and named
    as the user named the model this time (adapt's adapted model is filed so, whatever its --out)."""
    import shutil

    out = tmp_path / "results"
    evaluate(_config(tiny_benchmark, out, str(model_folder)))
    moved = tmp_path / "elsewhere" / model_folder.name
    shutil.copytree(model_folder, moved)
    again = evaluate(_config(tiny_benchmark, out, str(moved)))
    assert again.scores and all(s.reused for s in again.scores)
    assert {s.provenance.model for s in again.scores} == {str(moved)}
