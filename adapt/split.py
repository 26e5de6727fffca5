"""Hold out a dev split by source document, so no dev query's document was seen in training.

Pairs made from one document share words, entities and often passages; a random split by pair
would let the dev score reward memorising documents. Documents are ordered by a seeded hash of
their id, so the split is stable when pairs are added to a file and independent of line order.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from domainemb.errors import DomainembError
from domainemb.pairs import Pair


@dataclass(frozen=True)
class DevSplit:
    """Training and dev pairs, disjoint by document.

    Args:
        train: Pairs to train on.
        dev: Held-out pairs (empty when no dev split was asked for).
        train_documents: Number of source documents in ``train``.
        dev_documents: Number of source documents in ``dev``.
    """

    train: tuple[Pair, ...]
    dev: tuple[Pair, ...]
    train_documents: int
    dev_documents: int


def split_by_document(pairs: Sequence[Pair], dev_fraction: float, seed: int) -> DevSplit:
    """Put ``ceil(dev_fraction * documents)`` whole documents into dev, the rest into train.

    Args:
        pairs: All pairs.
        dev_fraction: Fraction of documents held out; 0 for no dev split.
        seed: Seed of the document order.

    Raises:
        DomainembError: a dev split is asked for but the pairs come from fewer than two documents.
    """
    documents = sorted({p.doc_id for p in pairs}, key=lambda d: _rank(d, seed))
    if dev_fraction == 0:
        return DevSplit(train=tuple(pairs), dev=(), train_documents=len(documents), dev_documents=0)
    if len(documents) < 2:
        raise DomainembError(
            f"the pairs come from {len(documents)} source document(s); a dev split needs at least 2 "
            "(set dev_fraction: 0 in the config to train without one)"
        )
    n_dev = min(len(documents) - 1, max(1, math.ceil(dev_fraction * len(documents))))
    dev_documents = set(documents[:n_dev])
    return DevSplit(
        train=tuple(p for p in pairs if p.doc_id not in dev_documents),
        dev=tuple(p for p in pairs if p.doc_id in dev_documents),
        train_documents=len(documents) - n_dev,
        dev_documents=n_dev,
    )


def _rank(doc_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()
