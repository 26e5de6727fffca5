"""``--devices``: encoding spread over worker processes scores exactly as one process does.

Two CPU worker processes take sentence-transformers' multi-process path, the one a multi-GPU
machine takes with ``cuda:0,cuda:1``. The tiny random BERT keeps each run to seconds.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re

import pytest
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.errors import DomainembError
from domainemb.evaluation import devices
from domainemb.evaluation.devices import check_device_names, parse_devices
from domainemb.evaluation.encoders import sentence_transformer_from_folder
from domainemb.evaluation.results import TaskScore, result_path
from domainemb.evaluation.run import EvaluateConfig, evaluate

runner = CliRunner()
TASKS = ("TinyRetrieval", "TinySTS")
_POOL_STARTED = re.compile(r"encoding with (\d+) processes on (\S+) \(pids ([\d, ]+)\)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _pools_started(caplog) -> list[tuple[int, ...]]:
    """The worker pids of each pool started, from the log."""
    found = [_POOL_STARTED.search(r.getMessage()) for r in caplog.records]
    return [tuple(int(p) for p in m[3].split(", ")) for m in found if m]


def _in_this_process(*args, **kwargs):
    raise AssertionError("a text was encoded in the test process, not in a worker")


def test_two_cpu_processes_score_as_one(tiny_bert_folder, tiny_benchmark, tmp_path, caplog, monkeypatch):
    from sentence_transformers import SentenceTransformer

    caplog.set_level(logging.INFO, logger="domainemb.evaluation.devices")
    model = str(tiny_bert_folder)
    common = dict(benchmark=tiny_benchmark, models=(model,), tasks=TASKS, use_cache=False)  # the cache would answer

    one = evaluate(EvaluateConfig(**common, out=tmp_path / "one"))
    assert _pools_started(caplog) == []
    with monkeypatch.context() as patch:  # the workers import the real class; only this process is barred
        patch.setattr(SentenceTransformer, "_inference", _in_this_process)
        two = evaluate(EvaluateConfig(**common, out=tmp_path / "two", devices=("cpu", "cpu")))

    assert [s.task for s in two.scores] == list(TASKS) and not any(s.reused for s in one.scores + two.scores)
    for single, spread in zip(one.scores, two.scores, strict=True):
        assert spread.main_score == pytest.approx(single.main_score, abs=1e-6), spread.task
        assert single.provenance.devices == ("cpu",) and spread.provenance.devices == ("cpu", "cpu")
        assert spread.provenance.model_fingerprint == single.provenance.model_fingerprint  # not part of the key

    (pids,) = _pools_started(caplog)  # one pool for the model's whole run, not one per task
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert not any(_alive(pid) for pid in pids), "worker processes outlived the run"
    assert not [p for p in multiprocessing.active_children() if p.pid in pids]
    assert "(2 exited, the rest terminated)" in caplog.text  # they ran their exit handlers: no leaked semaphores

    encoder = sentence_transformer_from_folder(tiny_bert_folder, name=model)
    path = result_path(tmp_path / "two", encoder.model_name, encoder.revision, "TinySTS")
    assert TaskScore.from_disk(path).provenance.devices == ("cpu", "cpu")
    assert json.loads(path.read_text())["domainemb"]["devices"] == ["cpu", "cpu"]

    # Devices decide where, not what: the one-process results are kept, and no pool is started.
    again = evaluate(EvaluateConfig(**common, out=tmp_path / "one", devices=("cpu", "cpu")))
    assert all(s.reused for s in again.scores) and len(_pools_started(caplog)) == 1


def _wait_for_work(inputs) -> None:
    while True:  # as a sentence-transformers worker does, without the model
        inputs.get()


def _idle_pool(model, devices):
    """A pool of real processes that only wait for work, started in milliseconds (a real one imports torch)."""
    ctx = multiprocessing.get_context("fork")
    inputs = ctx.Queue()
    processes = [ctx.Process(target=_wait_for_work, args=(inputs,), daemon=True) for _ in devices]
    for process in processes:
        process.start()
    return {"input": inputs, "output": ctx.Queue(), "processes": processes}


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_run_stops_its_workers(tiny_bert_folder, monkeypatch, caplog, interruption):
    caplog.set_level(logging.INFO, logger="domainemb.evaluation.devices")
    monkeypatch.setattr(devices, "start_pool", _idle_pool)
    encoder = sentence_transformer_from_folder(tiny_bert_folder, name="tiny")
    with pytest.raises(interruption), encoder.encoding_on(("cpu", "cpu")):
        with encoder.encoding_on(("cpu", "cpu")):  # nested (compare): the outer block owns the pool
            pool = encoder.pool()
        assert encoder.pool() is pool  # started once, at the first use
        pids = [p.pid for p in pool["processes"]]
        assert all(_alive(pid) for pid in pids)
        raise interruption
    assert not any(_alive(pid) for pid in pids)
    assert "stopped the 2 encoding processes (2 exited, the rest terminated)" in caplog.text  # asked, not killed
    assert encoder.pool() is None and encoder.devices == ("cpu",)


def test_one_device_moves_the_model_and_starts_no_pool(tiny_bert_folder, monkeypatch):
    monkeypatch.setattr(devices, "start_pool", lambda model, names: pytest.fail("a pool for one device"))
    encoder = sentence_transformer_from_folder(tiny_bert_folder, name="tiny")
    with encoder.encoding_on(("cpu",)):
        assert encoder.pool() is None and encoder.devices == ("cpu",)
        assert str(encoder.model.device) == "cpu"
        with pytest.raises(DomainembError, match="already encoding on cpu"):
            with encoder.encoding_on(("cpu", "cpu")):
                pass


def test_results_written_before_devices_were_recorded_still_read(tiny_benchmark, tmp_path):
    from evaluation_data import KeywordEncoder

    encoder = KeywordEncoder()
    config = EvaluateConfig(benchmark=tiny_benchmark, models=("keywords",), tasks=("TinySTS",), out=tmp_path)
    (score,) = evaluate(config, encoders={"keywords": encoder}).scores
    assert score.provenance.devices == ()  # no torch model, no device
    path = result_path(tmp_path, encoder.model_name, encoder.revision, "TinySTS")
    data = json.loads(path.read_text())
    del data["domainemb"]["devices"]
    path.write_text(json.dumps(data))
    assert TaskScore.from_disk(path).provenance.devices == ()
    (kept,) = evaluate(config, encoders={"keywords": KeywordEncoder()}).scores
    assert kept.reused and kept.main_score == score.main_score


def test_device_lists_are_parsed():
    assert parse_devices("cpu,cpu") == ("cpu", "cpu")
    assert parse_devices(" cuda:0 , cuda:1") == ("cuda:0", "cuda:1")
    check_device_names(())
    with pytest.raises(DomainembError, match="list of devices"):
        check_device_names("cpu")


BAD = [
    ("cpu,,cpu", "an empty entry"),
    ("", "an empty entry"),
    ("tpu", "unknown device 'tpu'"),
    ("cpu;cpu", "unknown device 'cpu;cpu'"),
    ("cuda:x", "unknown device 'cuda:x'"),
    ("cpu:1", "cpu takes no index"),
]


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


@pytest.mark.parametrize(("value", "message"), BAD)
def test_bad_devices_are_one_line_before_any_work(tiny_benchmark, tmp_path, value, message):
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["evaluate", "--benchmark", str(tiny_benchmark), "--model", "bm25", "--out", str(out), "--devices", value]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.skipif(not _no_cuda(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["evaluate", "compare"])
def test_cuda_without_cuda_is_one_line(tiny_suites, tmp_path, command):
    domain, general = tiny_suites("compare")
    out = tmp_path / "out"
    args = {
        "evaluate": ["evaluate", "--benchmark", str(domain), "--model", "bm25"],
        "compare": ["compare", "finance", "--domain-benchmark", str(domain), "--general-benchmark", str(general)],
    }[command]
    result = runner.invoke(app, [*args, "--out", str(out), "--devices", "cpu,cuda:1"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "'cuda:1': CUDA is not available" in lines[0]
    assert not out.exists()


def test_compare_checks_the_device_names(tiny_suites, tmp_path):
    domain, general = tiny_suites("compare")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["compare", "finance", "--domain-benchmark", str(domain), "--general-benchmark", str(general)]
        + ["--out", str(out), "--devices", "gpu"],
    )
    assert result.exit_code == 2 and "unknown device 'gpu'" in result.output.strip(), result.output
    assert not out.exists()
