"""Planning, the LLM-free generators, answer parsing with one repair, and validation."""

from __future__ import annotations

import asyncio
import json

import pytest

from domainemb.synth.config import Generator, PairKind, PromptStyle, SynthConfig
from domainemb.synth.corpus import Document, chunk_document
from domainemb.synth.generate import (
    ItemFailed,
    crop_pair,
    ict_pair,
    llm_pair,
    plan,
    sentences,
)
from domainemb.synth.llm import LLMRequest, LLMResponse
from domainemb.synth.personas import builtin_personas
from domainemb.synth.templates import load_template

PASSAGE = (
    "Revenue rose 8 percent to 394 billion dollars in 2022. Growth came from services and wearables. "
    "Operating margin improved to 30 percent as costs fell. The board raised the dividend by 4 percent. "
    "Management expects demand in China to recover next year."
)


def _config(tmp_path, **kw) -> SynthConfig:
    return SynthConfig(domain="finance", corpus=tmp_path, out=tmp_path / "pairs.jsonl", **kw)


def _chunks():
    docs = [Document(f"doc{i}", PASSAGE.replace("2022", str(2000 + i))) for i in range(4)]
    return [c for d in docs for c in chunk_document(d, size=20, overlap=5)]


def _templates(style=PromptStyle.CHAT):
    return {k: load_template(k, style) for k in PairKind}


def test_plan_is_deterministic_and_keys_are_unique(tmp_path):
    config = _config(tmp_path, per_chunk=3)
    personas = builtin_personas("finance")
    a = plan(_chunks(), config, personas, _templates())
    b = plan(list(reversed(_chunks())), config, personas, _templates())
    assert [i.key for i in a] == [i.key for i in b]  # order of finishing or of input never matters
    assert len({i.key for i in a}) == len(a) == 3 * len(_chunks())
    assert {i.kind for i in a} <= set(PairKind) and len({i.persona.name for i in a}) > 5
    other = plan(_chunks(), _config(tmp_path, per_chunk=3, seed=7), personas, _templates())
    assert {i.key for i in other} != {i.key for i in a}
    limited = plan(_chunks(), _config(tmp_path, per_chunk=3, limit=5), personas, _templates())
    assert [i.key for i in limited] == [i.key for i in a][:5]
    assert len({i.chunk.doc_id for i in limited}) > 1  # a limit samples across documents


def test_kind_mix_favours_short_queries(tmp_path):
    items = plan(_chunks() * 1, _config(tmp_path, per_chunk=40), builtin_personas("finance"), _templates())
    counts = {k: sum(i.kind is k for i in items) for k in PairKind}
    assert counts[PairKind.SHORT_LONG] > sum(counts.values()) / 2
    assert all(counts.values())


def test_ict_and_crop(tmp_path):
    config = _config(tmp_path, generator=Generator.ICT)
    chunk = chunk_document(Document("d", PASSAGE), size=200, overlap=0)[0]
    items = plan([chunk], _config(tmp_path, generator=Generator.ICT, per_chunk=20), [], {})
    pairs = [ict_pair(i, config.seed) for i in items]
    sents = sentences(PASSAGE)
    assert len(sents) == 5
    for p in pairs:
        assert p.query in sents and p.kind is PairKind.SHORT_LONG and p.generator is Generator.ICT
        assert p.persona is None and p.llm_model is None and p.template_hash is None
    assert any(p.query not in p.positive for p in pairs)  # usually the sentence is removed
    assert ict_pair(items[0], config.seed) == pairs[0]  # deterministic
    with pytest.raises(ItemFailed, match="too-short"):
        ict_pair(plan([chunk_document(Document("s", "One sentence only."), 20, 0)[0]], config, [], {})[0], 0)
    crops = [crop_pair(i, 0) for i in plan([chunk], _config(tmp_path, generator=Generator.CROP, per_chunk=10), [], {})]
    for p in crops:
        assert p.query in PASSAGE and p.positive in PASSAGE and p.kind is PairKind.LONG_LONG
        n = len(PASSAGE.split())
        assert max(5, int(0.1 * n)) <= len(p.query.split()) <= int(0.5 * n)


class ScriptedLLM:
    """Answers from a list, one per call; records the requests."""

    model = "scripted"

    def __init__(self, *answers: LLMResponse) -> None:
        self.answers = list(answers)
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        return self.answers.pop(0)


def _ok(text: str, finish: str = "stop") -> LLMResponse:
    return LLMResponse(text=text, finish_reason=finish, prompt_tokens=10, completion_tokens=5)


def _item(tmp_path, kind=PairKind.SHORT_LONG, style=PromptStyle.CHAT):
    config = _config(tmp_path, kinds=(kind,))
    chunk = chunk_document(Document("d", PASSAGE), size=200, overlap=0)[0]
    return plan([chunk], config, builtin_personas("finance"), {kind: load_template(kind, style)})[0], config


def _run(item, config, *answers):
    client = ScriptedLLM(*answers)
    try:
        return asyncio.run(llm_pair(item, client, config)), client
    except ItemFailed as exc:
        return exc, client


def test_valid_answer_makes_a_pair(tmp_path):
    item, config = _item(tmp_path)
    (pair, calls), client = _run(item, config, _ok('```json\n{"query": "how fast did services revenue grow"}\n```'))
    assert calls == 1 and pair.query == "how fast did services revenue grow"
    assert pair.positive == item.chunk.text and pair.persona == item.persona.name
    assert pair.template_hash == item.template.hash and pair.llm_model == "scripted" and pair.key == item.key
    assert client.requests[0].seed is not None


def test_malformed_json_gets_exactly_one_repair(tmp_path):
    item, config = _item(tmp_path)
    (pair, calls), client = _run(item, config, _ok("Sure! query: dividend"), _ok('{"query": "did the dividend go up"}'))
    assert calls == 2 and pair.query == "did the dividend go up"
    repair = client.requests[1].messages
    assert (
        repair[-2] == {"role": "assistant", "content": "Sure! query: dividend"}
        and "only the JSON" in repair[-1]["content"]
    )
    failed, client = _run(item, config, _ok("nope"), _ok("still nope"))
    assert isinstance(failed, ItemFailed) and failed.reason == "malformed-json" and len(client.requests) == 2


@pytest.mark.parametrize(
    "answer, reason",
    [
        (LLMResponse('{"query": "how fast did reven', "length"), "truncated"),
        (LLMResponse("I'm sorry, but I can't help with that.", "stop"), "refusal"),
        (LLMResponse("", "stop", refusal="I cannot assist"), "refusal"),
        (LLMResponse('{"query": ""}', "stop"), "empty-field"),
        (LLMResponse('{"query": "dividend"}', "stop"), "too-short"),
        (LLMResponse(json.dumps({"query": " ".join(["word"] * 41)}), "stop"), "too-long"),
        (LLMResponse('{"query": "Operating margin improved to 30 percent as costs fell"}', "stop"), "copies-passage"),
        (LLMResponse('{"answer": "x"}', "stop"), "malformed-json"),
    ],
)
def test_bad_answers_fail_with_a_reason(tmp_path, answer, reason):
    item, config = _item(tmp_path)
    failed, _ = _run(item, config, answer, answer)
    assert isinstance(failed, ItemFailed) and failed.reason == reason


def test_fewshot_answer_is_the_prefill_plus_completion(tmp_path):
    item, config = _item(tmp_path, style=PromptStyle.FEWSHOT)
    (pair, calls), client = _run(item, config, _ok('margin trend for services"} Person: someone else'))
    assert pair.query == "margin trend for services" and calls == 1 and client.requests[0].prompt
    parrot = json.loads(item.template.body["examples"][0]["output"])["query"]
    failed, _ = _run(item, config, _ok(parrot + '"}'))
    assert failed.reason == "parrots-example"


def test_sts_and_classification_pairs(tmp_path):
    item, config = _item(tmp_path, PairKind.STS)
    sentence = item.values["sentence"]
    (pair, _), _ = _run(
        item,
        config,
        _ok(json.dumps({"paraphrase": "In other words: " + sentence, "contrast": "It is false that " + sentence})),
    )
    assert (
        pair.query == sentence
        and pair.positive.startswith("In other words")
        and pair.negatives[0].startswith("It is false")
    )
    failed, _ = _run(
        item, config, _ok(json.dumps({"paraphrase": sentence, "contrast": "totally different words here"}))
    )
    assert failed.reason == "copies-passage"
    item, config = _item(tmp_path, PairKind.CLASSIFICATION)
    (pair, _), _ = _run(item, config, _ok('{"text": "Shares jumped after the upbeat results call today."}'))
    labels = json.loads(item.values["labels"])
    assert pair.positive == item.values["label"] and set(pair.negatives) == set(labels) - {item.values["label"]}


def test_sts_contrast_is_optional(tmp_path):
    item, config = _item(tmp_path, PairKind.STS, PromptStyle.FEWSHOT)
    (pair, _), _ = _run(item, config, _ok("In other words: " + item.values["sentence"] + '"}'))
    assert pair.positive.startswith("In other words") and pair.negatives == ()


@pytest.mark.parametrize(
    "text, refusal",
    [
        ("I'm sorry, but I can't help with that.", True),
        ("As an AI language model, I cannot", True),
        ("I cannot assist with this request", True),
        ("I can't find the dividend payment date", False),  # a novice's real question, not a refusal
        ("Sorry to ask: what does EBITDA exclude", False),
    ],
)
def test_refusals_are_told_from_questions(tmp_path, text, refusal):
    item, config = _item(tmp_path)
    result, _ = _run(item, config, _ok(json.dumps({"query": text})))
    assert (isinstance(result, ItemFailed) and result.reason == "refusal") == refusal
