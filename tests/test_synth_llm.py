"""The OpenAI-compatible client against a fault-injecting loopback server, end to end through ``synthesize``.

Every item must end either in the pairs or in the failure log with its reason; retries must honour
``Retry-After``; the API key must reach the server and never any file or log.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time

import pytest
from fake_server import FakeOpenAIServer
from synth_data import HashEmbedder, read_jsonl

from domainemb.synth.config import PairKind, SynthConfig
from domainemb.synth.decontam import HeldOut
from domainemb.synth.llm import (
    LLMError,
    LLMRequest,
    OpenAIClient,
    RetryPolicy,
    retry_after_seconds,
)
from domainemb.synth.pipeline import synthesize

SECRET = "sk-domainemb-test-SECRET-0123456789"

# marker in a document -> (scripted behaviours or an "always" behaviour, expected outcome)
CASES = {
    "QQRATELIMITED": (["429"], "done"),
    "QQSERVERERROR": (["500", "500"], "done"),
    "QQSERVERDOWN": ("500", "http-500"),
    "QQHANGONCE": (["hang"], "done"),
    "QQHANGALWAYS": ("hang", "timeout"),
    "QQMALFORMEDONCE": (["malformed"], "done"),
    "QQMALFORMEDALWAYS": ("malformed", "malformed-json"),
    "QQTRUNCATED": ("truncated", "truncated"),
    "QQREFUSAL": ("refusal", "refusal"),
    "QQDROPPED": (["close"], "done"),
    "QQCOPY": ("copy", "copies-passage"),
    "QQPLAINONE": ([], "done"),
    "QQPLAINTWO": ([], "done"),
}


def _doc(marker: str) -> str:
    return (
        f"Report {marker} states that quarterly revenue grew strongly while operating costs stayed under control. "
        f"Analysts at {marker} expect the dividend to rise next year as free cash flow improves."
    )


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    for marker in CASES:
        (root / f"{marker.lower()}.txt").write_text(_doc(marker), encoding="utf-8")
    return root


def _config(corpus, out, server, **kw) -> SynthConfig:
    values = dict(
        domain="finance",
        corpus=corpus,
        out=out,
        base_url=server.base_url,
        llm_model="fake-model",
        kinds=(PairKind.SHORT_LONG,),
        concurrency=8,
        timeout=1.0,
        max_retries=2,
        negatives=1,
        consistency_top_k=0,
        price_prompt=1.0,
        price_completion=2.0,
        teacher="none",  # the endpoint is under test, not the teacher (tests/test_synth_teacher.py)
    )
    values.update(kw)
    return SynthConfig(**values)


def test_every_item_is_done_or_failed_with_its_reason(corpus, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    faults = {m: list(b) for m, (b, _) in CASES.items() if isinstance(b, list)}
    always = {m: b for m, (b, _) in CASES.items() if isinstance(b, str)}
    out = tmp_path / "run" / "pairs.jsonl"
    # A 2 s timeout (hangs last 4 s): a request that is answered must not time out on a loaded machine.
    with FakeOpenAIServer(faults=faults, always=always, retry_after=0.6, hang_seconds=4.0) as server:
        with caplog.at_level(logging.DEBUG):
            config = _config(corpus, out, server, timeout=2.0)
            result = synthesize(config, embedder=HashEmbedder(), held_out=HeldOut.from_texts([]))
    raw = {r["doc_id"]: r for r in read_jsonl(out.with_name("pairs.raw.jsonl"))}
    failed = {r["doc_id"]: r for r in read_jsonl(out.with_name("pairs.failed.jsonl"))}
    for marker, (_, outcome) in CASES.items():
        doc = f"{marker.lower()}.txt"
        if outcome == "done":
            assert doc in raw and doc not in failed, marker
        else:
            assert doc not in raw and failed[doc]["reason"] == outcome, (marker, failed.get(doc))
            assert failed[doc]["detail"] and failed[doc]["key"]
    card = result.card.to_dict()  # as <stem>.card.json holds it
    n_failed = sum(o != "done" for _, o in CASES.values())
    assert card["items"] == {"planned": len(CASES), "generated": len(CASES) - n_failed, "resumed": 0}
    assert card["failed"]["total"] == n_failed
    assert card["failed"]["by_reason"] == {o: 1 for _, o in CASES.values() if o != "done"}
    assert card["counts"]["pairs"] == len(CASES) - n_failed == len(read_jsonl(out))
    retries = card["llm"]["retries"]
    assert retries["http-429"] == 1 and retries["connection"] == 1
    assert retries["http-500"] == 2 + 2  # twice for the flaky server, max_retries for the dead one
    assert retries["timeout"] >= 1 + 2  # more when a loaded machine is slow to answer
    assert card["tokens"]["prompt"] > 0 and card["tokens"]["completion"] > 0
    assert card["cost_usd"] == pytest.approx((card["tokens"]["prompt"] * 1 + card["tokens"]["completion"] * 2) / 1e6)
    # Retry-After is a floor on the wait before the retry
    t = server.times["QQRATELIMITED"]
    assert len(t) == 2 and t[1] - t[0] >= 0.6
    # the malformed answer was repaired once, on the same item
    assert len(server.times["QQMALFORMEDONCE"]) == 2 and len(server.times["QQMALFORMEDALWAYS"]) == 2
    # the key was sent, and written nowhere
    assert f"Bearer {SECRET}" in server.authorizations
    for path in out.parent.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in caplog.text
    assert "fake-model" in out.read_text()


def test_rerun_retries_only_failed_items(corpus, tmp_path):
    out = tmp_path / "run" / "pairs.jsonl"
    with FakeOpenAIServer(always={"QQREFUSAL": "refusal"}) as server:
        first = synthesize(_config(corpus, out, server), embedder=HashEmbedder(), held_out=HeldOut.from_texts([]))
    assert first.card.failed.by_reason == {"refusal": 1}
    with FakeOpenAIServer() as server:
        second = synthesize(_config(corpus, out, server), embedder=HashEmbedder(), held_out=HeldOut.from_texts([]))
        assert server.counts["requests"] == 1
    assert second.card.failed.total == 0 and second.card.items.resumed == len(CASES) - 1
    assert second.card.counts.pairs == len(CASES)


def test_retry_after_parsing():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds({"retry-after": when}) <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None and retry_after_seconds(None) is None


def test_backoff_is_jittered_exponential_and_respects_retry_after():
    policy = RetryPolicy(base=0.5, cap=4.0)
    rng = random.Random(0)
    for attempt in range(6):
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= min(4.0, 0.5 * 2**attempt)
        assert len(set(delays)) > 100  # jitter: clients do not retry in lockstep
    assert all(2.0 <= policy.delay(0, 2.0, rng) <= 2.3 for _ in range(100))


def test_long_retry_after_fails_instead_of_stalling():
    with FakeOpenAIServer(always={"x": "429"}, retry_after=3600) as server:
        client = OpenAIClient("m", server.base_url, timeout=2, retry=RetryPolicy(max_retries=3))
        with pytest.raises(LLMError) as err:
            asyncio.run(client.complete(LLMRequest(messages=({"role": "user", "content": "x"},))))
    assert err.value.reason == "http-429" and "3600" in err.value.detail and server.counts["requests"] == 1


def test_client_errors_are_not_retried():
    with FakeOpenAIServer() as server:
        client = OpenAIClient("m", server.base_url.replace("/v1", "/nope"), timeout=2)
        with pytest.raises(LLMError) as err:
            asyncio.run(client.complete(LLMRequest(prompt="x")))
    assert err.value.reason == "http-404" and client.usage.requests == 1


def test_concurrency_is_bounded(corpus, tmp_path):
    """Requests in flight never exceed --concurrency (here 3, with 13 items at 0.2 s each)."""
    with FakeOpenAIServer(latency=0.2) as server:
        inflight, peak = 0, 0
        original = server.behaviour

        def counting(prompt):
            nonlocal inflight, peak
            with server.lock:
                inflight += 1
                peak = max(peak, inflight)
            time.sleep(0.2)
            with server.lock:
                inflight -= 1
            return original(prompt)

        server.behaviour = counting
        synthesize(
            _config(corpus, tmp_path / "c" / "pairs.jsonl", server, concurrency=3),
            embedder=HashEmbedder(),
            held_out=HeldOut.from_texts([]),
        )
    assert peak == 3


# --- a 200 that is not a completion; a run in which every item failed ---------------------------


def test_a_200_answer_that_is_not_a_completion_fails_only_its_item(corpus, tmp_path):
    """``{"choices": "nope"}`` used to raise AttributeError and stop the whole run."""
    out = tmp_path / "run" / "pairs.jsonl"
    with FakeOpenAIServer(always={"QQPLAINONE": "garbage"}) as server:
        result = synthesize(_config(corpus, out, server), embedder=HashEmbedder(), held_out=HeldOut.from_texts([]))
        assert server.counts["garbage"] == 1  # not retried: a malformed body is no transient failure
    failed = {r["doc_id"]: r for r in read_jsonl(out.with_name("pairs.failed.jsonl"))}
    assert set(failed) == {"qqplainone.txt"} and failed["qqplainone.txt"]["reason"] == "bad-response"
    assert "choices" in failed["qqplainone.txt"]["detail"]
    assert result.card.failed.by_reason == {"bad-response": 1}
    assert result.card.counts.pairs == len(CASES) - 1


@pytest.mark.parametrize("chat", [True, False])
def test_client_turns_any_non_completion_into_bad_response(chat):
    request = LLMRequest(messages=({"role": "user", "content": "x"},)) if chat else LLMRequest(prompt="x")
    with FakeOpenAIServer(always={"x": "garbage"}) as server:
        client = OpenAIClient("m", server.base_url, timeout=2, retry=RetryPolicy(max_retries=0))
        with pytest.raises(LLMError) as err:
            asyncio.run(client.complete(request))
    assert err.value.reason == "bad-response"


@pytest.mark.parametrize(
    ("always", "base_url", "reason"),
    [({"Report": "500"}, None, "http-500"), ({"Report": "garbage"}, None, "bad-response"), ({}, "down", "connection")],
)
def test_synth_with_no_pair_generated_exits_2_saying_why(corpus, tmp_path, always, base_url, reason):
    from synth_data import retrieval_benchmark
    from typer.testing import CliRunner

    from domainemb.cli.main import app

    bench = retrieval_benchmark(tmp_path / "bench", ["an unrelated test document about enzymes"], ["what is an enzyme"])
    out = tmp_path / "run" / "pairs.jsonl"
    with FakeOpenAIServer(always=always) as server:
        url = "http://127.0.0.1:9/v1" if base_url == "down" else server.base_url
        args = ["synth", "--domain", "finance", "--corpus", str(corpus), "--out", str(out), "--benchmark", str(bench)]
        args += ["--base-url", url, "--llm-model", "fake-model", "--max-retries", "0", "--timeout", "2"]
        result = CliRunner().invoke(app, [*args, "--kind", "short-long", "--negatives", "0"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "no pair generated" in lines[0], result.output
    assert f"{reason}={len(CASES)}" in result.output
    assert not out.exists()  # no empty pairs file passes for a result
    assert len(read_jsonl(out.with_name("pairs.failed.jsonl"))) == len(CASES)  # the failures stay, for the rerun
