"""Complexity measures: entropy, Gunning Fog (textstat, offline), dependency distance (spaCy), LLM error rate."""

from __future__ import annotations

import math

import pytest

from domainemb.compare.complexity import (
    NO_LLM,
    NOT_CLASSIFICATION,
    entropy,
    gunning_fog,
    llm_error_rate,
    mean_dependency_distance,
    measure_tasks,
)
from domainemb.domains.benchmark import Benchmark
from domainemb.synth.llm import LLMError, LLMResponse


@pytest.fixture(scope="module")
def tiny(tiny_benchmark) -> Benchmark:
    return Benchmark.open(tiny_benchmark)


def test_entropy_is_the_mean_word_entropy_in_bits():
    assert entropy(["a a b b"]) == 1.0
    assert entropy(["a b c d", "x x"]) == (2.0 + 0.0) / 2
    assert entropy(["", "..."]) is None


def test_gunning_fog_runs_offline_with_textstat():
    import textstat

    text = "The committee approved the extraordinary appropriation. Analysts anticipated considerable volatility."
    assert math.isclose(gunning_fog([text]), textstat.gunning_fog(text))
    assert gunning_fog(["plain words here."]) < gunning_fog([text])


def test_mean_dependency_distance_from_the_spacy_parser():
    # The -> cat (1), cat -> sat (1); the root and the full stop are left out.
    assert mean_dependency_distance(["The cat sat."]) == 1.0
    nested = mean_dependency_distance(["The report that the analysts who met yesterday wrote was long."])
    assert nested > 1.5


class _Labeller:
    """A fake LLM: answers the gold label for texts mentioning a topic keyword, else 'wrong'; fails on 'note 1'."""

    def __init__(self) -> None:
        self.requests = 0

    async def complete(self, request):
        self.requests += 1
        prompt = request.messages[0]["content"]
        text = prompt.split("Text: ", 1)[1]
        if "(note 1" in text:
            raise LLMError("http-500")
        for label in ("earnings", "rates", "chemistry", "medicine"):
            if label in text.lower():
                return LLMResponse(text=f" {label.capitalize()}\n", finish_reason="stop")
        return LLMResponse(text="wrong", finish_reason="stop")


def test_llm_error_rate_on_classification_only(tiny):
    labeller = _Labeller()
    rate, note = llm_error_rate(lambda: labeller, tiny, tiny.task("TinyClassification"), items=12, seed=1)
    assert labeller.requests == 12 and rate is not None and 0 <= rate <= 1
    assert "test items" in note
    rate, note = llm_error_rate(lambda: labeller, tiny, tiny.task("TinySTS"), items=12, seed=1)
    assert rate is None and note == NOT_CLASSIFICATION


class _ChosenErrors:
    """A fake LLM whose mistakes are chosen: the gold label, except 'wrong' for the texts in ``wrong``
    and a failed request for those in ``fail``."""

    def __init__(self, gold: dict[str, str], wrong: set[str], fail: set[str]) -> None:
        self.gold, self.wrong, self.fail = gold, wrong, fail
        self.asked: list[str] = []

    async def complete(self, request):
        text = request.messages[0]["content"].split("Text: ", 1)[1].rsplit("\n", 1)[0].strip()
        text = next(t for t in self.gold if t.startswith(text) or text.startswith(t))
        self.asked.append(text)
        if text in self.fail:
            raise LLMError("http-500")
        return LLMResponse(text="wrong" if text in self.wrong else self.gold[text], finish_reason="stop")


@pytest.mark.parametrize("wrong_share", [0.0, 0.5, 1.0])
def test_llm_error_rate_is_the_share_of_wrong_answers(tiny, wrong_share):
    """The rate counts exactly the answers that differ from the gold label; failed requests are left out."""
    test = tiny.tables(tiny.task("TinyClassification"))["test"]
    gold = dict(zip(test["text"].to_list(), test["label"].to_list(), strict=True))
    texts = sorted(gold)
    fail = set(texts[:2])
    answerable = texts[2:]
    wrong = set(answerable[: round(wrong_share * len(answerable))])
    labeller = _ChosenErrors(gold, wrong, fail)
    rate, note = llm_error_rate(lambda: labeller, tiny, tiny.task("TinyClassification"), items=len(texts), seed=1)
    assert sorted(labeller.asked) == texts
    assert rate == pytest.approx(len(wrong) / len(answerable))
    assert note == f"{len(answerable)} test items (2 failed requests left out)"


def test_without_an_llm_the_error_rate_is_not_computed_never_zero(tiny):
    measured = measure_tasks(tiny, [tiny.task("TinyClassification"), tiny.task("TinyRetrieval")], texts=20)
    for c in measured.values():
        assert c.llm_error_rate is None and c.llm_note == NO_LLM
        assert c.entropy > 0 and c.gunning_fog > 0 and c.mean_dependency_distance >= 1 and c.texts == 20
    again = measure_tasks(tiny, [tiny.task("TinyClassification")], texts=20, known=measured, on_task=pytest.fail)
    assert again["TinyClassification"] is measured["TinyClassification"]  # reused, not measured again


def test_llm_error_rate_over_http_with_the_openai_client(tiny):
    """The real client against a local OpenAI-compatible server; its answers are not labels, so all count as errors."""
    from fake_server import FakeOpenAIServer

    from domainemb.synth.llm import OpenAIClient

    with FakeOpenAIServer() as server:
        measured = measure_tasks(
            tiny,
            [tiny.task("TinyClassification")],
            texts=5,
            llm=lambda: OpenAIClient(model="fake", base_url=server.base_url),
            llm_items=6,
        )
        assert sum(server.counts.values()) >= 6
    c = measured["TinyClassification"]
    assert c.llm_error_rate == 1.0 and c.llm_note.startswith("6 test items")
