"""From chunks to pairs: the deterministic plan, the LLM-free generators, and one LLM example end to end.

Every sampling decision (kind, persona, attributes, label, sentence, crop) is drawn from a
``random.Random`` seeded by the run seed, the chunk id and the sample index, so a re-run plans the
same items with the same keys, whatever order they finish in.
"""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import dataclass, field
from typing import Any

from domainemb.pairs import Pair
from domainemb.synth.config import (
    KIND_WEIGHTS,
    Generator,
    PairKind,
    PromptStyle,
    SynthConfig,
)
from domainemb.synth.corpus import Chunk
from domainemb.synth.llm import LLMClient, LLMError, LLMRequest, LLMResponse
from domainemb.synth.pairs import pair_key
from domainemb.synth.personas import Persona
from domainemb.synth.templates import Template, classification_tasks, sample_attributes
from domainemb.synth.text import copy_ratio, normalise, spans, stable_hash

log = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry, (but )?i\b|as an ai\b|"
    r"i (can'?t|cannot|can not|won'?t|will not|am unable to|'m unable to) (help|assist|provide|comply|fulfil|create|generate|do that))",
    re.IGNORECASE,
)
#: Word bounds per output field, by kind: shorter is noise, longer is a passage, not a query.
BOUNDS: dict[PairKind, dict[str, tuple[int, int]]] = {
    PairKind.SHORT_LONG: {"query": (2, 40)},
    PairKind.LONG_LONG: {"query": (12, 300)},
    PairKind.STS: {"paraphrase": (4, 120), "contrast": (4, 120)},
    PairKind.CLASSIFICATION: {"text": (4, 300)},
}
_STS_SENTENCE_WORDS = (6, 60)


class ItemFailed(Exception):
    """An item that produced no pair; ``reason`` is a short slug, ``detail`` says more."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class WorkItem:
    """One planned example: which chunk, kind, persona and sampled attributes, under a deterministic key."""

    key: str
    chunk: Chunk
    kind: PairKind
    sample: int
    generator: Generator
    persona: Persona | None = None
    template: Template | None = None
    values: dict[str, str] = field(default_factory=dict)  # template values besides persona and passage

    def record_base(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "persona": self.persona.name if self.persona else None,
            "kind": self.kind.value,
            "doc_id": self.chunk.doc_id,
            "chunk_id": self.chunk.id,
            "generator": self.generator.value,
            "template_hash": self.template.hash if self.template else None,
        }


def sentences(text: str) -> list[str]:
    """Split prose into sentences (on ., ! or ? followed by a capital or digit)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _rng(config: SynthConfig, chunk: Chunk, sample: int) -> random.Random:
    return random.Random(stable_hash(config.seed, chunk.id, sample))


def plan(
    chunks: list[Chunk],
    config: SynthConfig,
    personas: list[Persona],
    templates: dict[PairKind, Template],
) -> list[WorkItem]:
    """The run's items, in a deterministic order spread across documents (so ``limit`` samples them all)."""
    items: list[WorkItem] = []
    for chunk in chunks:
        for sample in range(config.per_chunk):
            item = _plan_one(chunk, sample, config, personas, templates)
            if item is not None:
                items.append(item)
    items.sort(key=lambda i: stable_hash(config.seed, "order", i.key))
    return items[: config.limit] if config.limit else items


def _plan_one(
    chunk: Chunk, sample: int, config: SynthConfig, personas: list[Persona], templates: dict[PairKind, Template]
) -> WorkItem | None:
    rng = _rng(config, chunk, sample)
    gen = config.generator
    if gen is not Generator.LLM:
        kind = config.effective_kinds[0]
        return WorkItem(
            pair_key(gen, None, kind, chunk.doc_id, chunk.start, chunk.end, None, sample), chunk, kind, sample, gen
        )
    sts_sentences = [
        s for s in sentences(chunk.text) if _STS_SENTENCE_WORDS[0] <= len(s.split()) <= _STS_SENTENCE_WORDS[1]
    ]
    kinds = [k for k in config.kinds if k is not PairKind.STS or sts_sentences]
    if not kinds:
        return None
    kind = rng.choices(kinds, weights=[KIND_WEIGHTS[k] for k in kinds])[0]
    persona = rng.choice(personas)
    values = sample_attributes(rng)
    if kind is PairKind.STS:
        values["sentence"] = rng.choice(sts_sentences)
    elif kind is PairKind.CLASSIFICATION:
        task = rng.choice(classification_tasks(config.domain))
        values["task"], values["label"] = task.task, rng.choice(task.labels)
        values["labels"] = json.dumps(list(task.labels))
    template = templates[kind]
    key = pair_key(gen, persona.name, kind, chunk.doc_id, chunk.start, chunk.end, template.hash, sample)
    return WorkItem(key, chunk, kind, sample, gen, persona, template, values)


# ----------------------------------------------------------------------------- LLM-free generators
#: crop_pair's defaults: each crop takes 10-50% of the passage's tokens, and at least 5 tokens.
CROP_MIN_RATIO, CROP_MAX_RATIO, CROP_MIN_TOKENS = 0.1, 0.5, 5
#: The plan-time drop reason (a key of the card's ``drops``) of a chunk the generator cannot use.
UNUSABLE_REASON = {Generator.ICT: "too-short-for-ict", Generator.CROP: "too-short-for-crop"}


def ict_usable(text: str) -> bool:
    """Whether :func:`ict_pair` can cut a pair from ``text``: at least two :func:`sentences`."""
    return len(sentences(text)) >= 2


def crop_usable(text: str, max_ratio: float = CROP_MAX_RATIO, min_tokens: int = CROP_MIN_TOKENS) -> bool:
    """Whether :func:`crop_pair` can cut two crops of ``min_tokens`` from ``text``."""
    return len(spans(text)) * max_ratio >= min_tokens


def requirement(generator: Generator) -> str:
    """What a chunk needs for ``generator`` (the detail of its ``too-short`` failure and of the planner's error)."""
    if generator is Generator.ICT:
        return "ict needs a passage of at least two sentences"
    if generator is Generator.CROP:
        return f"crop needs at least {int(CROP_MIN_TOKENS / CROP_MAX_RATIO)} tokens"
    return "no requirement"


def usable(generator: Generator, text: str) -> bool:
    """Whether ``generator`` can make a pair from a chunk's ``text``: the very test its pair function applies.

    The planner (:func:`domainemb.synth.pipeline.planned_chunks`) plans items only over chunks passing it,
    so ``--limit N`` means N items that can succeed; the pair functions keep the test as a guard. Both look
    the predicates up here at call time, so they cannot disagree. Generators without a test (llm,
    structure, which has its own rules) accept every chunk.
    """
    if generator is Generator.ICT:
        return ict_usable(text)
    if generator is Generator.CROP:
        return crop_usable(text)
    return True


def ict_pair(item: WorkItem, seed: int) -> Pair:
    """Inverse cloze task (Lee et al., 2019): one sentence is the query, its passage without it the positive.

    As in ORQA, the sentence is left in the passage 10% of the time, so the model also learns
    lexical matching.

    Raises:
        ItemFailed: ``too-short`` when the chunk has fewer than two sentences (:func:`ict_usable`; the
            planner leaves such chunks out, so this is a guard).
    """
    rng = random.Random(stable_hash(seed, "ict", item.key))
    if not ict_usable(item.chunk.text):
        raise ItemFailed("too-short", requirement(Generator.ICT))
    sents = sentences(item.chunk.text)
    i = rng.randrange(len(sents))
    rest = sents if rng.random() < 0.1 else sents[:i] + sents[i + 1 :]
    return _pair(item, sents[i], " ".join(rest), None)


def crop_pair(
    item: WorkItem,
    seed: int,
    min_ratio: float = CROP_MIN_RATIO,
    max_ratio: float = CROP_MAX_RATIO,
    min_tokens: int = CROP_MIN_TOKENS,
) -> Pair:
    """Two independent random crops of one passage (Contriever, Izacard et al., 2022), each 10-50% of its tokens.

    Raises:
        ItemFailed: ``too-short`` when the chunk is too short for two crops of ``min_tokens``
            (:func:`crop_usable`; the planner leaves such chunks out, so this is a guard).
    """
    rng = random.Random(stable_hash(seed, "crop", item.key))
    if not crop_usable(item.chunk.text, max_ratio, min_tokens):
        raise ItemFailed("too-short", f"crop needs at least {int(min_tokens / max_ratio)} tokens")
    toks = spans(item.chunk.text)

    def crop() -> str:
        length = max(min_tokens, int(len(toks) * rng.uniform(min_ratio, max_ratio)))
        first = rng.randrange(len(toks) - length + 1)
        return item.chunk.text[toks[first][0] : toks[first + length - 1][1]]

    return _pair(item, crop(), crop(), None)


def _pair(item: WorkItem, query: str, positive: str, llm_model: str | None, negatives: tuple[str, ...] = ()) -> Pair:
    base = item.record_base()
    return Pair(
        key=item.key,
        query=query,
        positive=positive,
        negatives=negatives,
        persona=base["persona"],
        kind=item.kind,
        doc_id=item.chunk.doc_id,
        chunk_id=item.chunk.id,
        generator=item.generator,
        llm_model=llm_model,
        template_hash=base["template_hash"],
    )


# ----------------------------------------------------------------------------- LLM generator
def llm_request(item: WorkItem, config: SynthConfig) -> LLMRequest:
    assert item.template is not None and item.persona is not None
    persona = item.persona
    brief = f"{persona.role} ({persona.expertise} level)"
    values = {
        **item.values,
        "domain": config.domain.value,
        "persona": brief if item.template.style is PromptStyle.FEWSHOT else persona.describe(),
        "passage": " ".join(item.chunk.text.split()),
    }
    seed = int(item.key[:8], 16)
    return item.template.request(values, config.max_tokens, config.temperature, seed)


async def llm_pair(item: WorkItem, client: LLMClient, config: SynthConfig) -> tuple[Pair, int]:
    """Ask the LLM for one example, parse and validate it.

    Returns:
        The pair and the number of LLM calls it took (2 when the JSON needed a repair).

    Raises:
        ItemFailed: with the reason (``http-429``, ``timeout``, ``refusal``, ``malformed-json``,
            ``truncated``, ``empty-field``, ``too-short``, ``too-long``, ``copies-passage``, ...).
    """
    assert item.template is not None
    request = llm_request(item, config)
    response = await _call(client, request)
    calls = 1
    try:
        fields = parse_answer(response, item.template)
    except _Malformed as exc:
        fields = None
        detail = str(exc)
    if fields is None:
        repair = _repair_request(request, response, item.template)
        if repair is None:
            raise ItemFailed("malformed-json", detail)
        response = await _call(client, repair)
        calls += 1
        try:
            fields = parse_answer(response, item.template, lenient=True)
        except _Malformed as exc:
            raise ItemFailed("malformed-json", f"after one repair: {exc}") from None
    return _validated_pair(item, fields, client.model, config), calls


async def _call(client: LLMClient, request: LLMRequest) -> LLMResponse:
    try:
        return await client.complete(request)
    except LLMError as exc:
        raise ItemFailed(exc.reason, exc.detail) from None


class _Malformed(Exception):
    pass


def parse_answer(response: LLMResponse, template: Template, lenient: bool = False) -> dict[str, str]:
    """The answer's JSON object, parsed strictly (only an optional Markdown code fence is tolerated).

    With ``lenient`` (the repair pass, and every few-shot answer, whose completion runs past the
    object), the first complete JSON object in the text is taken and trailing text ignored.

    Raises:
        ItemFailed: ``refusal`` for a refusal, ``truncated`` when the answer hit the token limit
            before the object closed.
        _Malformed: for text that is not the expected JSON object.
    """
    if response.refusal:
        raise ItemFailed("refusal", response.refusal[:200])
    text = response.text
    if _REFUSAL.match(text):
        raise ItemFailed("refusal", " ".join(text.split())[:200])
    raw = template.prefill + text
    lenient = lenient or template.style is PromptStyle.FEWSHOT
    try:
        value = _loads(raw, lenient)
    except (ValueError, RecursionError) as exc:
        if response.finish_reason == "length":
            raise ItemFailed("truncated", "the answer hit the token limit before the JSON closed") from None
        raise _Malformed(str(exc)) from None
    if not isinstance(value, dict):
        raise _Malformed(f"expected a JSON object, got {type(value).__name__}")
    missing = [f for f in template.output if f not in value and f not in template.optional]
    if missing:
        raise _Malformed(f"missing field {missing[0]!r}")
    fields = {f: value[f] for f in template.output if f in value}
    if not all(isinstance(v, str) for v in fields.values()):
        raise _Malformed("fields must be strings")
    if not all(_is_text(v) for v in fields.values()):  # a pair holding one could not be written
        raise _Malformed("a field holds a lone surrogate (an escape such as \\ud800), which is no text")
    return fields


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _loads(raw: str, lenient: bool) -> Any:
    text = raw.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.S)
    if fence:
        text = fence.group(1)
    if not lenient:
        return json.loads(text)
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the answer")
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    return value


def _repair_request(request: LLMRequest, response: LLMResponse, template: Template) -> LLMRequest | None:
    """The one repair attempt: show a chat model its answer and ask for the JSON alone.

    Few-shot answers are already parsed leniently, so a re-ask would only repeat the prompt.
    """
    if request.messages is None or response.finish_reason == "length":
        return None
    shape = "{" + ", ".join(f'"{f}": "..."' for f in template.output) + "}"
    messages = request.messages + (
        {"role": "assistant", "content": response.text[:2000]},
        {"role": "user", "content": f"That was not valid JSON. Reply with only the JSON object {shape}, nothing else."},
    )
    return LLMRequest(messages=messages, max_tokens=request.max_tokens, temperature=0.0, seed=request.seed)


def _validated_pair(item: WorkItem, fields: dict[str, str], model: str, config: SynthConfig) -> Pair:
    fields = {k: " ".join(v.split()) for k, v in fields.items()}
    assert item.template is not None
    for name, (low, high) in BOUNDS[item.kind].items():
        if name not in fields and name in item.template.optional:
            continue
        value = fields.get(name, "")
        if not value:
            raise ItemFailed("empty-field", f"{name!r} is empty")
        if _REFUSAL.match(value):
            raise ItemFailed("refusal", value[:200])
        n = len(value.split())
        if n < low:
            raise ItemFailed("too-short", f"{name!r} has {n} words (minimum {low})")
        if n > high:
            raise ItemFailed("too-long", f"{name!r} has {n} words (maximum {high})")
    examples = {normalise(str(v)) for ex in item.template.body.get("examples", ()) for v in _example_fields(ex)}
    if any(normalise(v) in examples for v in fields.values()):
        raise ItemFailed("parrots-example", "the answer repeats a worked example of the prompt")
    passage = item.chunk.text
    if item.kind in (PairKind.SHORT_LONG, PairKind.LONG_LONG):
        _check_copy(fields["query"], passage, config.max_copy_ratio)
        return _pair(item, fields["query"], passage, model)
    if item.kind is PairKind.CLASSIFICATION:
        _check_copy(fields["text"], passage, config.max_copy_ratio)
        labels = [str(x) for x in json.loads(item.values["labels"])]
        label = item.values["label"]
        return _pair(item, fields["text"], label, model, tuple(x for x in labels if x != label))
    sentence, para, contrast = item.values["sentence"], fields["paraphrase"], fields.get("contrast")
    if normalise(para) == normalise(sentence):
        raise ItemFailed("copies-passage", "the paraphrase repeats the sentence")
    if contrast is not None and normalise(contrast) in {normalise(sentence), normalise(para)}:
        raise ItemFailed("copies-passage", "the contrast sentence repeats the sentence")
    return _pair(item, sentence, para, model, (contrast,) if contrast else ())


def _example_fields(example: dict[str, Any]) -> list[str]:
    try:
        output = json.loads(example.get("output", "{}"))
    except json.JSONDecodeError:
        return []
    return [v for v in output.values() if isinstance(v, str)] if isinstance(output, dict) else []


def _check_copy(text: str, passage: str, limit: float) -> None:
    ratio = copy_ratio(text, passage)
    if ratio > limit or normalise(text) in normalise(passage) and len(text.split()) >= 4:
        raise ItemFailed("copies-passage", f"{ratio:.0%} of its word trigrams occur in the passage")
