"""The local default: llama.cpp's server with SmolLM2-135M-Instruct, started and stopped by domainemb (slow)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from synth_data import read_jsonl, retrieval_benchmark, write_corpus

from domainemb.pairs import read_pairs
from domainemb.synth.config import PairKind, SynthConfig
from domainemb.synth.decontam import HeldOut
from domainemb.synth.pipeline import synthesize
from domainemb.synth.server import free_port, local_model_path

SECRET = "sk-domainemb-local-SECRET-77"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="llama-cpp-python[server] is not installed (make setup installs it)",
    ),
]


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_packaged_model_is_found():
    path = local_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_real_generations_through_the_local_server(tmp_path, monkeypatch):
    """A few real SmolLM2 generations; synth starts and stops the server itself."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    corpus = write_corpus(tmp_path / "corpus", docs=2, sentences=6)
    out = tmp_path / "run" / "pairs.jsonl"
    config = SynthConfig(
        domain="finance", corpus=corpus, out=out, kinds=(PairKind.SHORT_LONG,), per_chunk=2, limit=3, max_tokens=48, temperature=0.3,
        negatives=0, consistency_top_k=0, near_duplicate=1.0, server_threads=2,
    )  # fmt: skip
    result = synthesize(config, held_out=HeldOut.from_texts([]))
    card = result.card.to_dict()  # as <stem>.card.json holds it
    assert card["llm"]["local_server"] is True and card["llm"]["prompt_style"] == "fewshot"
    assert card["llm"]["llm_model"] == "SmolLM2-135M-Instruct-Q4_1"
    assert card["items"]["planned"] == 3 and card["items"]["generated"] + card["failed"]["total"] == 3
    assert card["items"]["generated"] >= 1  # the small model manages most short queries
    for pair in read_pairs(out, strict=True).pairs:
        assert pair.llm_model == "SmolLM2-135M-Instruct-Q4_1" and 2 <= len(pair.query.split()) <= 40
    for failure in (
        read_jsonl(out.with_name("pairs.failed.jsonl")) if out.with_name("pairs.failed.jsonl").exists() else []
    ):
        assert failure["reason"]
    assert card["tokens"]["prompt"] > 0
    assert not any("llama_cpp.server" in " ".join(_cmdline(p)) for p in _children(os.getpid()))
    assert out.with_name("pairs.server.log").is_file()
    for path in out.parent.iterdir():  # the server log included: the user's key never reaches the local server
        assert SECRET.encode() not in path.read_bytes(), path


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def test_kill_9_of_synth_leaves_no_orphan_server(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", docs=2)
    bench = retrieval_benchmark(
        tmp_path / "bench", ["an unrelated test document about enzymes and catalysis"], ["what is an enzyme"]
    )
    out = tmp_path / "run" / "pairs.jsonl"
    cmd = [sys.executable, "-m", "domainemb.cli.main", "synth", "--domain", "finance", "--corpus", str(corpus), "--out", str(out),
           "--benchmark", str(bench), "--threads", "1", "--negatives", "0", "--consistency-top-k", "0", "--near-duplicate", "1.0"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = None
    deadline = time.monotonic() + 120
    while server is None and time.monotonic() < deadline and proc.poll() is None:
        server = next((p for p in _children(proc.pid) if "llama_cpp.server" in _cmdline(p)), None)
        time.sleep(0.1)
    assert server is not None, "synth did not start the local server"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _wait_gone(server), "the llama.cpp server outlived synth"


def _terminal_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM])
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_llm_serve_answers_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    # Files, not pipes: nobody reads a pipe while the server runs, and a full one blocks the writer
    # (then Ctrl-C cannot be handled until it is drained).
    stdout, stderr = open(tmp_path / "stdout", "wb"), open(tmp_path / "stderr", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "domainemb.cli.main", "llm", "serve", "--port", str(port), "--threads", "1"],
        stdout=stdout,
        stderr=stderr,
        # Ctrl-C as at a terminal: a SIGINT that this test process ignores or blocks would be
        # inherited by the child (dispositions and the signal mask survive exec).
        preexec_fn=_terminal_signals,
    )
    try:
        deadline = time.monotonic() + 120
        models = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as resp:
                    models = json.loads(resp.read())
                    break
            except OSError:
                time.sleep(0.25)
        assert models and models["data"][0]["id"] == "SmolLM2-135M-Instruct-Q4_1"
        server = next(p for p in _children(proc.pid) if "llama_cpp.server" in _cmdline(p))
        time.sleep(1.0)  # let `serve` see the server answer too (it polls every 0.25 s) and print its address
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, (tmp_path / "stderr").read_text(errors="replace")[-2000:]
        assert _wait_gone(server)
        assert f"127.0.0.1:{port}" in (tmp_path / "stderr").read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        stdout.close()
        stderr.close()
