"""Calibration pairs for the pruning scores: where they come from and which are kept.

Sources, never a test split:

* **domain**: the pairs of ``domainemb synth`` (``pairs.jsonl``), or else the *train* splits of the
  domain suite's classification and multilabel tasks — the only train splits a suite has
  (retrieval, STS, pair, clustering and summarization tasks are test-only).
* **general**: the train splits of the general suite's classification and multilabel tasks.

A labelled text becomes a pair with another text of the same label as its positive (same task,
same label: the kind of similarity the suite's classification and clustering tasks reward). The
pair's ``doc_id`` is ``<task>/<label>``, so hard-negative mining never picks a text of the
anchor's own label.

Selection is by k-means coverage (as in GAPrune): the queries of a seeded candidate pool are
embedded with the model being pruned, clustered into ``size`` clusters, and the pair nearest each
centroid is kept. Pairs without a hard negative then get one mined: the most similar positive of
another pair with a different ``doc_id``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from domainemb.domains.benchmark import Benchmark
from domainemb.errors import DomainembError
from domainemb.pairs import Pair, read_pairs
from domainemb.types import TaskType

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

#: Task types whose built tables include a ``train`` split.
TRAIN_SPLIT_TYPES = (TaskType.CLASSIFICATION, TaskType.MULTILABEL_CLASSIFICATION)


@dataclass(frozen=True)
class CalibrationSet:
    """The calibration pairs of one side (``domain`` or ``general``) and where they came from.

    Attributes:
        name: ``domain`` or ``general``.
        pairs: The selected pairs, each with one hard negative.
        source: Human-readable origin (pairs file or benchmark and its tasks).
        source_checksum: sha256 of the pairs file or of the benchmark manifest.
        candidates: Pairs available before the k-means choice.
    """

    name: str
    pairs: tuple[Pair, ...]
    source: str
    source_checksum: str
    candidates: int

    def summary(self) -> dict[str, object]:
        return {
            "pairs": len(self.pairs),
            "candidates": self.candidates,
            "source": self.source,
            "source_checksum": self.source_checksum,
        }


def synth_pairs(path: Path) -> tuple[list[Pair], str]:
    """The pairs of a ``domainemb synth`` file and the file's sha256."""
    pair_file = read_pairs(path)
    return list(pair_file.pairs), pair_file.sha256


def train_split_pairs(benchmark: Benchmark, seed: int = 42) -> tuple[list[Pair], list[str]]:
    """Same-label pairs from the train splits of ``benchmark``'s labelled tasks.

    Each train text is an anchor once; its positive is the next text of its label in a seeded
    content-hash order (cyclic). Multilabel texts use their first label; unlabelled ones are skipped.

    Returns:
        The pairs (no negatives yet) and the names of the tasks they came from.
    """
    pairs: list[Pair] = []
    tasks: list[str] = []
    for entry in benchmark.tasks:
        if TaskType(entry.type) not in TRAIN_SPLIT_TYPES:
            continue
        train = benchmark.tables(entry).get("train")
        if train is None:
            continue
        label_column = "label" if "label" in train.columns else "labels"
        by_label: dict[str, list[str]] = {}
        for text, label in zip(train["text"].to_list(), train[label_column].to_list(), strict=True):
            key = label if isinstance(label, str) else (min(label) if label else None)
            if key is not None:
                by_label.setdefault(key, []).append(text)
        before = len(pairs)
        for label in sorted(by_label):
            texts = sorted(set(by_label[label]), key=lambda t: _hash(seed, t))
            if len(texts) < 2:
                continue
            for i, text in enumerate(texts):
                pairs.append(
                    Pair(query=text, positive=texts[(i + 1) % len(texts)], negatives=(), doc_id=f"{entry.name}/{label}")
                )
        if len(pairs) > before:
            tasks.append(entry.name)
    return pairs, tasks


def calibration_set(
    name: str,
    candidates: Sequence[Pair],
    source: str,
    source_checksum: str,
    model: SentenceTransformer,
    size: int,
    minimum: int,
    candidate_pool: int,
    seed: int,
    batch_size: int = 64,
) -> CalibrationSet:
    """Choose ``size`` pairs by k-means coverage and give each one hard negative.

    Raises:
        DomainembError: fewer than ``minimum`` candidate pairs.
    """
    if len(candidates) < minimum:
        raise DomainembError(
            f"too few {name} calibration pairs: {len(candidates)} from {source}, need at least {minimum} "
            "(give more pairs, or lower min_calibration_pairs in the config file)"
        )
    pool = sorted(candidates, key=lambda p: _hash(seed, p.query + "\x1f" + p.positive))[:candidate_pool]
    queries = _embed(model, [p.query for p in pool], batch_size)
    chosen = [pool[i] for i in coverage_indices(queries, size, seed)]
    chosen = mine_negatives(chosen, model, batch_size)
    return CalibrationSet(
        name=name, pairs=tuple(chosen), source=source, source_checksum=source_checksum, candidates=len(candidates)
    )


def coverage_indices(embeddings: np.ndarray, size: int, seed: int) -> list[int]:
    """Indices of the rows nearest each of ``size`` k-means centroids (all rows when fewer).

    A row is taken once; when two centroids share a nearest row, the second takes its next
    nearest free row. The result is sorted.
    """
    n = len(embeddings)
    if n <= size:
        return list(range(n))
    from sklearn.cluster import KMeans

    kmeans = KMeans(n_clusters=size, n_init=1, max_iter=100, random_state=seed).fit(embeddings)
    taken: set[int] = set()
    for centroid in kmeans.cluster_centers_:
        distances = ((embeddings - centroid) ** 2).sum(axis=1)
        for index in np.argsort(distances, kind="stable"):
            if int(index) not in taken:
                taken.add(int(index))
                break
    return sorted(taken)


def mine_negatives(pairs: Sequence[Pair], model: SentenceTransformer, batch_size: int = 64) -> list[Pair]:
    """Give every pair without a negative the most query-similar positive of another ``doc_id``.

    Pairs that already carry negatives keep them. A pair with no other ``doc_id`` to draw from
    keeps no negative (in-batch negatives only).
    """
    missing = [i for i, p in enumerate(pairs) if not p.negatives]
    if not missing:
        return list(pairs)
    queries = _embed(model, [pairs[i].query for i in missing], batch_size)
    positives = _embed(model, [p.positive for p in pairs], batch_size)
    doc_ids = np.array([p.doc_id for p in pairs])
    out = list(pairs)
    for row, i in enumerate(missing):
        similarity = positives @ queries[row]
        similarity[doc_ids == pairs[i].doc_id] = -np.inf
        j = int(np.argmax(similarity))
        if np.isfinite(similarity[j]):
            out[i] = dataclasses.replace(pairs[i], negatives=(pairs[j].positive,))
    if any(not p.negatives for p in out):
        # The loss needs one column layout per batch: pairs without a negative drop theirs.
        log.warning("some calibration pairs have no hard negative; all pairs use in-batch negatives only")
        out = [dataclasses.replace(p, negatives=()) for p in out]
    return out


def _embed(model: SentenceTransformer, texts: list[str], batch_size: int) -> np.ndarray:
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def _hash(seed: int, text: str) -> bytes:
    return hashlib.blake2b(f"{seed}\x1f{text}".encode(), digest_size=8).digest()
