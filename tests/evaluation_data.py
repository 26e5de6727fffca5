"""A tiny benchmark with one task of every type, and a fake encoder, for the evaluation tests.

The texts are made from keyword templates (deterministic), so any model -- the real packaged ones
or the keyword fake -- gets a task it can partly solve, in a second or two.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from domainemb.domains.build import BuildConfig, build_benchmark
from domainemb.domains.tables import labelled_tables, pair_tables, retrieval_tables, summarization_tables
from domainemb.evaluation.encoders import VectorEncoder, fingerprint_params
from domainemb.types import Domain, LicenceFlag, Size, Source, TaskSpec, TaskType

TOPICS = {
    "rates": ["interest rates", "the central bank", "inflation", "bond yields", "monetary policy", "the rate hike"],
    "earnings": ["quarterly earnings", "revenue growth", "the profit margin", "net income", "the dividend", "guidance"],
    "chemistry": ["the catalyst", "the reaction", "the molecule", "a solvent", "the polymer", "an oxidation"],
    "medicine": ["the patients", "the dosage", "the clinical trial", "the symptoms", "the vaccine", "the diagnosis"],
}
VERBS = ["shaped", "dominated", "changed", "was linked to", "drove", "explained"]
TAILS = ["this quarter", "in the report", "according to analysts", "over the year", "in the study", "last week"]

SOURCE = Source(
    key="test/synthetic",
    repo="https://example.org/synthetic",
    commit="0" * 40,
    files=(),
    licence="CC0-1.0",
    licence_flag=LicenceFlag.OPEN,
    citation="Synthetic test data.",
    mteb_license="cc0-1.0",
)


def sentence(rng: random.Random, topic: str) -> str:
    a, b = rng.sample(TOPICS[topic], 2)
    return f"{a.capitalize()} {rng.choice(VERBS)} {b} {rng.choice(TAILS)} (note {rng.randrange(10_000)})."


def _labelled(rng: random.Random, n: int) -> list[tuple[str, str]]:
    topics = sorted(TOPICS)
    return [(sentence(rng, topics[i % len(topics)]), topics[i % len(topics)]) for i in range(n)]


def _pairs(rng: random.Random, n: int, sts: bool) -> list[tuple[str, str, float | int]]:
    topics = sorted(TOPICS)
    rows = []
    for i in range(n):
        t1 = topics[i % len(topics)]
        same = i % 2 == 0
        t2 = t1 if same else topics[(i + 1) % len(topics)]
        score: float | int = (4.0 + rng.random()) if sts and same else (rng.random() if sts else int(same))
        rows.append((sentence(rng, t1), sentence(rng, t2), score))
    return rows


def _retrieval(rng: random.Random, rerank: bool):
    topics = sorted(TOPICS)
    corpus = [(f"d{i}", f"{topics[i % 4]} report", sentence(rng, topics[i % 4])) for i in range(40)]
    queries, qrels, candidates = [], [], {}
    for q in range(12):
        target = corpus[q * 3]
        words = target[2].split()
        queries.append((f"q{q}", " ".join(words[:4]) + "?"))
        qrels.append((f"q{q}", target[0], 1))
        candidates[f"q{q}"] = [target[0], *(corpus[(q * 3 + k) % 40][0] for k in (5, 10, 15, 20))]
    return retrieval_tables(corpus, queries, qrels, candidates if rerank else None)


def _multilabel(rng: random.Random, n: int):
    topics = sorted(TOPICS)
    rows = []
    for i in range(n):
        labels = sorted({topics[i % 4], topics[(i * 7 // 3) % 4]})
        rows.append((" ".join(sentence(rng, t) for t in labels), labels))
    return rows


def _summaries(rng: random.Random):
    topics = sorted(TOPICS)
    rows = []
    for i in range(8):
        t = topics[i % 4]
        text = " ".join(sentence(rng, t) for _ in range(4))
        human = [sentence(rng, t), sentence(rng, t)]
        machine = [sentence(rng, t), sentence(rng, topics[(i + 1) % 4]), sentence(rng, topics[(i + 2) % 4])]
        rows.append((text, human, machine, [4.5, 2.0 + rng.random(), 1.0 + rng.random()]))
    return rows


def _spec(name: str, type: TaskType, build, **kwargs) -> TaskSpec:
    return TaskSpec(
        name=name,
        domain=Domain.FINANCE,
        type=type,
        description=f"Synthetic {type} task for the evaluation tests.",
        sources=(SOURCE,),
        build=build,
        annotations="derived",
        **kwargs,
    )


def tiny_specs() -> tuple[TaskSpec, ...]:
    """One small task of each of the eight types."""
    return (
        _spec("TinyRetrieval", TaskType.RETRIEVAL, lambda f: _retrieval(random.Random(1), rerank=False)),
        _spec("TinyReranking", TaskType.RERANKING, lambda f: _retrieval(random.Random(2), rerank=True)),
        _spec(
            "TinySTS",
            TaskType.STS,
            lambda f: pair_tables(_pairs(random.Random(3), 40, sts=True), TaskType.STS),
            min_score=0.0,
            max_score=5.0,
        ),
        _spec(
            "TinyPairClassification",
            TaskType.PAIR_CLASSIFICATION,
            lambda f: pair_tables(_pairs(random.Random(4), 40, sts=False), TaskType.PAIR_CLASSIFICATION),
        ),
        _spec(
            "TinyClassification",
            TaskType.CLASSIFICATION,
            lambda f: labelled_tables(
                {"train": _labelled(random.Random(5), 48), "test": _labelled(random.Random(6), 24)},
                TaskType.CLASSIFICATION,
            ),
        ),
        _spec(
            "TinyMultilabelClassification",
            TaskType.MULTILABEL_CLASSIFICATION,
            lambda f: labelled_tables(
                {"train": _multilabel(random.Random(7), 48), "test": _multilabel(random.Random(8), 24)},
                TaskType.MULTILABEL_CLASSIFICATION,
            ),
        ),
        _spec(
            "TinyClustering",
            TaskType.CLUSTERING,
            lambda f: labelled_tables({"test": _labelled(random.Random(9), 40)}, TaskType.CLUSTERING),
        ),
        _spec(
            "TinySummarization",
            TaskType.SUMMARIZATION,
            lambda f: summarization_tables(_summaries(random.Random(10))),
            min_score=1.0,
            max_score=5.0,
        ),
    )


def build_from_specs(out: Path, domain: Domain, specs: tuple[TaskSpec, ...]) -> Path:
    """Build a benchmark of ``domain`` into ``out`` that holds ``specs`` and nothing from the real registry.

    Every test benchmark is built here: the ``tiny_benchmark`` and ``tiny_suites`` fixtures
    (tests/conftest.py) and the synth tests' retrieval benchmarks.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("domainemb.domains.build.domain_tasks", lambda domain: ())
        return build_benchmark(BuildConfig(domain=domain, out=out, size=Size.FULL), extra_specs=specs).path


class KeywordEncoder(VectorEncoder):
    """A fake dense model: one dimension per topic keyword (counts), plus a constant; counts its calls.

    Attributes:
        calls: Number of ``embed`` calls.
        texts_seen: Total texts embedded.
    """

    def __init__(self, name: str = "keywords") -> None:
        super().__init__()
        self.name = name
        self.model_name = f"test/{name}"
        self.vocabulary = sorted(
            {w for phrases in TOPICS.values() for p in phrases for w in p.lower().split() if len(w) > 3}
        )
        self.fingerprint = fingerprint_params("keywords", {"vocabulary": self.vocabulary})
        self.calls = 0
        self.texts_seen = 0

    def embed(self, texts: list[str], prompt_type: str | None = None) -> np.ndarray:
        self.calls += 1
        self.texts_seen += len(texts)
        index = {w: i for i, w in enumerate(self.vocabulary)}
        out = np.zeros((len(texts), len(self.vocabulary) + 1), dtype=np.float32)
        out[:, -1] = 0.1  # no zero vectors
        for row, text in enumerate(texts):
            for word in text.lower().replace(".", " ").replace("?", " ").split():
                if word in index:
                    out[row, index[word]] += 1.0
        return out
