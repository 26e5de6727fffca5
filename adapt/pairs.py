"""Read training pairs (``domainemb synth`` output) and the run card beside them.

The format is the shared pair contract (``domainemb.synth.pairs``): one JSON object per line with
``query``, ``positive``, ``negatives`` (list, may be empty), ``doc_id`` and provenance fields
(``key``, ``kind``, ``generator``, ``persona`` ...). ``adapt`` (and ``prune``) need only the first
four, so this reader requires only those: a file a user writes by hand trains as well as one from
``synth``. It is strict about what it needs: a line that is not an object, or lacks one of those
fields, is an error naming the file and line, because training on half a file would go unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domainemb.errors import DataError

log = logging.getLogger(__name__)

LABEL = "training pairs"
#: The synth run summary written next to the pairs file.
CARD_NAME = "card.json"


@dataclass(frozen=True)
class TrainingPair:
    """One (query, positive, hard negatives) example from one source document.

    Args:
        query: The anchor text.
        positive: The text it should retrieve.
        negatives: Mined texts it should not retrieve (may be empty).
        doc_id: The source document; the dev split never shares a document with training.
        kind: Task kind (``short-long``, ``long-long``, ``sts``, ``classification``) when given.
        generator: ``llm``, ``ict`` or ``crop`` when given.
    """

    query: str
    positive: str
    negatives: tuple[str, ...]
    doc_id: str
    kind: str | None = None
    generator: str | None = None


@dataclass(frozen=True)
class PairFile:
    """The pairs of one file and what identifies it.

    Args:
        path: The file read.
        pairs: Its pairs in file order, exact repeats (same query, positive and negatives) dropped.
        sha256: Checksum of the file's bytes.
        duplicates: How many exact repeats were dropped.
        card: The synth ``card.json`` beside the file, when there is one.
    """

    path: Path
    pairs: tuple[TrainingPair, ...]
    sha256: str
    duplicates: int
    card: dict[str, Any] | None


def read_pairs(path: Path) -> PairFile:
    """Read and check a pairs JSONL file.

    Raises:
        DataError: the file is missing, empty, not UTF-8, or a line is not a JSON object with
            non-empty string ``query``, ``positive`` and ``doc_id`` and a list of strings as
            ``negatives``. The message names the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(LABEL, str(path), "no such file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(LABEL, str(path), f"not UTF-8 text (byte {exc.start})") from None
    pairs: list[TrainingPair] = []
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    duplicates = 0
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may sit inside a JSON string
        if not line.strip():
            continue
        pair = _parse_line(line, path, number)
        identity = (pair.query, pair.positive, pair.negatives)
        if identity in seen:
            duplicates += 1
            continue
        seen.add(identity)
        pairs.append(pair)
    if not pairs:
        raise DataError(LABEL, str(path), "no pairs (the file is empty)")
    if duplicates:
        log.info("%s: dropped %d exact repeated pairs", path, duplicates)
    return PairFile(
        path=path,
        pairs=tuple(pairs),
        sha256=hashlib.sha256(data).hexdigest(),
        duplicates=duplicates,
        card=read_card(path),
    )


def _parse_line(line: str, path: Path, number: int) -> TrainingPair:
    def bad(problem: str) -> DataError:
        return DataError(LABEL, str(path), f"line {number}: {problem}")

    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise bad(f"invalid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise bad("not a JSON object")
    for key in ("query", "positive", "doc_id"):
        if key not in row:
            raise bad(f"missing field {key!r}")
        if not isinstance(row[key], str) or not row[key].strip():
            raise bad(f"field {key!r} must be a non-empty string")
    negatives = row.get("negatives", [])
    if not isinstance(negatives, list) or not all(isinstance(n, str) and n.strip() for n in negatives):
        raise bad("field 'negatives' must be a list of non-empty strings")
    return TrainingPair(
        query=row["query"],
        positive=row["positive"],
        negatives=tuple(negatives),
        doc_id=row["doc_id"],
        kind=row.get("kind") if isinstance(row.get("kind"), str) else None,
        generator=row.get("generator") if isinstance(row.get("generator"), str) else None,
    )


def read_card(pairs_path: Path) -> dict[str, Any] | None:
    """The synth run card beside a pairs file, or ``None`` when absent or unreadable.

    synth writes it as ``<pairs stem>.card.json``, so several runs can share a folder.
    """
    pairs_path = Path(pairs_path)
    card = pairs_path.with_name(f"{pairs_path.stem}.{CARD_NAME}")
    if not card.is_file():
        return None
    try:
        value = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable synth card (%s); the model card will not summarise it", card, exc)
        return None
    return value if isinstance(value, dict) else None
