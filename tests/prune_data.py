"""Calibration pairs for the pruning tests, and what a saved model's tokenizer records.

The tiny models they prune are the ``tiny_model`` / ``tiny_bert`` fixtures in tests/conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from domainemb.pairs import Pair, write_pairs

TOPICS = [
    "bond yields rose",
    "the catalyst oxidised",
    "patients took the dose",
    "revenue grew",
    "a polymer formed",
    "the vaccine trial",
]


def tokenizer_json(folder: Path) -> tuple[object, object]:
    """The truncation and padding a saved model's ``tokenizer.json`` records."""
    saved = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    return saved["truncation"], saved["padding"]


def calibration_pairs(n: int, negatives: bool = True) -> list[Pair]:
    """``n`` short pairs over six topics; each with a hard negative from the next topic."""
    pairs = []
    for i in range(n):
        topic, other = TOPICS[i % len(TOPICS)], TOPICS[(i + 1) % len(TOPICS)]
        pairs.append(
            Pair(
                query=f"why {topic} in case {i}",
                positive=f"report {i}: {topic} this quarter",
                negatives=(f"report {i}: {other} this quarter",) if negatives else (),
                doc_id=f"doc{i}",
            )
        )
    return pairs


def write_pairs_file(path: Path, pairs: list[Pair]) -> Path:
    """Write ``pairs`` as a pairs file (:func:`domainemb.pairs.write_pairs`) and return its path."""
    write_pairs(path, pairs)
    return path
