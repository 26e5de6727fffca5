"""Shared row hygiene and train/test splitting for the domain modules.

Every suite needs the same two things from labelled data: one label per text (texts released under
conflicting labels are dropped), and, where a dataset ships no train split, a deterministic
label-stratified 50/50 split whose result depends only on the set of rows, not their order.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from domainemb.domains.helpers import SEED
from domainemb.domains.tables import Tables, labelled_tables
from domainemb.types import TaskType

Label = TypeVar("Label")

#: How a task description states the split made by :func:`halves` (format with the stratum, e.g. "label").
HALVES_NOTE = (
    "The dataset has no train split here: train/test is a deterministic 50/50 split stratified by {} "
    f"(each stratum's texts sorted, shuffled with random.Random({SEED}) and dealt alternately)."
)


def unambiguous(rows: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """One (text, label) per text (whitespace-stripped), in first-seen order.

    Empty texts are dropped, and so are texts released under more than one label (the data cannot
    tell which is right).
    """
    labels: dict[str, set[str]] = defaultdict(set)
    for text, label in rows:
        text = text.strip() if text else ""
        if text:
            labels[text].add(label)
    return [(t, next(iter(ls))) for t, ls in labels.items() if len(ls) == 1]


def halves(
    rows: Iterable[tuple[str, Label]],
    stratum: Callable[[Label], Hashable] = lambda label: label,
    seed: int = SEED,
    min_per_stratum: int = 1,
) -> dict[str, list[tuple[str, Label]]]:
    """Deterministic 50/50 train/test split stratified by ``stratum(label)``.

    Each stratum is sorted and shuffled with ``random.Random(seed)``; rows are then dealt alternately
    to train and test with one counter across strata, so even singleton strata spread over both.
    Strata with fewer than ``min_per_stratum`` rows are dropped (2 guarantees a label in both splits).
    """
    groups: dict[Hashable, list[tuple[str, Label]]] = defaultdict(list)
    for row in rows:
        groups[stratum(row[1])].append(row)
    groups = {k: g for k, g in groups.items() if len(g) >= min_per_stratum}
    rng = random.Random(seed)
    out: dict[str, list[tuple[str, Label]]] = {"train": [], "test": []}
    i = 0
    for key in sorted(groups, key=repr):
        group = sorted(groups[key], key=lambda r: (r[0], repr(r[1])))
        rng.shuffle(group)
        for row in group:
            out["train" if i % 2 == 0 else "test"].append(row)
            i += 1
    return out


def native_split(train: Iterable[tuple[str, Any]], test: Iterable[tuple[str, Any]]) -> dict[str, list[tuple[str, Any]]]:
    """The dataset's own splits, made unambiguous; a text that is also in test is dropped from train."""
    test_rows = unambiguous(test)
    in_test = {t for t, _ in test_rows}
    return {"train": [(t, y) for t, y in unambiguous(train) if t not in in_test], "test": test_rows}


def classification_native(train: Iterable[tuple[str, str]], test: Iterable[tuple[str, str]]) -> Tables:
    """Classification tables from the dataset's own train and test splits (see :func:`native_split`)."""
    return labelled_tables(native_split(train, test), TaskType.CLASSIFICATION)


def classification_halves(rows: Iterable[tuple[str, str]]) -> Tables:
    """Classification tables from one labelled set, split by :func:`halves` (state it with :data:`HALVES_NOTE`).

    Labels with a single text are dropped, so every test label also occurs in train.
    """
    return labelled_tables(halves(unambiguous(rows), min_per_stratum=2), TaskType.CLASSIFICATION)
