"""``kill -9`` in the middle of ``domainemb synth``, then the same command: zero lost, zero duplicated.

The run is a real subprocess of the CLI against a loopback OpenAI-compatible server. The result of
the interrupted-and-resumed run must equal that of an uninterrupted run, pair for pair.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from fake_server import FakeOpenAIServer
from synth_data import read_jsonl, retrieval_benchmark, write_corpus

from domainemb.pairs import read_pairs

SECRET = "sk-domainemb-resume-SECRET-42"


def _command(corpus, out, bench, base_url) -> list[str]:
    return [
        sys.executable, "-m", "domainemb.cli.main", "synth",
        "--domain", "finance", "--corpus", str(corpus), "--out", str(out), "--benchmark", str(bench),
        "--base-url", base_url, "--llm-model", "fake-model", "--concurrency", "4", "--per-chunk", "2",
        "--chunk-tokens", "40", "--chunk-overlap", "8",
        "--negatives", "0", "--consistency-top-k", "0", "--near-duplicate", "1.0",
    ]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ, OPENAI_API_KEY=SECRET, PYTHONUNBUFFERED="1")
    env.pop("OPENAI_BASE_URL", None)
    return env


def _lines(path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_kill_9_then_rerun_loses_and_duplicates_nothing(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", docs=4, sentences=12)
    bench = retrieval_benchmark(
        tmp_path / "bench", ["an unrelated test document about enzymes and catalysis"], ["what is an enzyme"]
    )
    killed, reference = tmp_path / "killed" / "pairs.jsonl", tmp_path / "reference" / "pairs.jsonl"
    with FakeOpenAIServer(latency=0.15) as server:
        proc = subprocess.Popen(
            _command(corpus, killed, bench, server.base_url), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        raw = killed.with_name("pairs.raw.jsonl")
        deadline = time.monotonic() + 120
        while _lines(raw) < 12 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        _, err1 = proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        at_kill = _lines(raw)
        assert not killed.exists()  # the final output is written only once generation is complete

        second = subprocess.run(
            _command(corpus, killed, bench, server.base_url), env=_env(), capture_output=True, timeout=300
        )
        assert second.returncode == 0, second.stderr.decode()
        third = subprocess.run(
            _command(corpus, reference, bench, server.base_url), env=_env(), capture_output=True, timeout=300
        )
        assert third.returncode == 0, third.stderr.decode()

    records = read_jsonl(raw)
    keys = Counter(r["key"] for r in records)
    assert max(keys.values()) == 1  # zero duplicated
    card = json.loads(killed.with_name(f"{killed.stem}.card.json").read_text())
    planned = card["items"]["planned"]
    assert len(keys) == planned  # zero lost: every planned item is in the log, once
    assert card["items"]["resumed"] >= at_kill - 1 and card["failed"]["total"] == 0
    resumed, fresh = read_pairs(killed, strict=True).pairs, read_pairs(reference, strict=True).pairs
    assert resumed == fresh and len(resumed) == planned
    for stream in (err1, second.stderr, third.stderr):
        assert SECRET.encode() not in stream
    for path in killed.parent.iterdir():
        assert SECRET.encode() not in path.read_bytes()
