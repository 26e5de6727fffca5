"""The training-pairs file: the one contract between ``synth``, which writes it, and ``adapt`` and
``prune``, which read it.

One JSON object per line (UTF-8)::

    {"key": str, "query": str, "positive": str, "negatives": [str, ...], "persona": str | null,
     "kind": "short-long" | "long-long" | "sts" | "classification", "doc_id": str, "chunk_id": str,
     "generator": "llm" | "ict" | "crop" | "structure", "llm_model": str | null, "template_hash": str | null,
     "margins": [float, ...]}

``margins`` is written only when a teacher labelled the pair (``synth --teacher``): one finite
number per negative, ``teacher(query, positive) - teacher(query, negative_i)``, the labels of
MarginMSE (GPL). A file without them trains every loss but ``margin-mse``.

Lines may carry more fields (synth's raw log keeps the sampled attributes); readers ignore them.
A file a user writes by hand needs only ``query``, ``positive`` and ``doc_id`` (``negatives`` may
be absent or empty): :func:`read_pairs` reads it as well as one from ``synth``, and with
``strict=True`` checks synth's whole contract instead. The run card ``synth`` writes beside the
file is ``<stem>.card.json`` (:func:`card_path`, read by :func:`read_card` as a
:class:`~domainemb.synth_card.SynthCard`).

Example:
    >>> write_pairs(Path("pairs.jsonl"), [Pair("what drove revenue", "Revenue rose.", (), "a.txt")])
    >>> read_pairs(Path("pairs.jsonl")).pairs[0].doc_id
    'a.txt'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from domainemb.atomic import write_atomic
from domainemb.errors import DataError
from domainemb.jsonio import loads_text
from domainemb.synth_card import SynthCard

log = logging.getLogger(__name__)

#: How a pairs file is named in a :class:`~domainemb.errors.DataError`.
LABEL = "training pairs"


class Generator(StrEnum):
    """How a pair is made: by an LLM, or LLM-free: inverse cloze, independent crops, or the documents' own
    structure (a heading -> the passage under it)."""

    LLM = "llm"
    ICT = "ict"
    CROP = "crop"
    STRUCTURE = "structure"


class PairKind(StrEnum):
    """What a pair trains: short query -> passage, long -> long, paraphrase (STS), text -> label."""

    SHORT_LONG = "short-long"
    LONG_LONG = "long-long"
    STS = "sts"
    CLASSIFICATION = "classification"


@dataclass(frozen=True)
class Pair:
    """One training example: a query, its positive, optional hard negatives, and where it came from.

    Only the first four fields are needed to train; the rest is the provenance ``synth`` records
    (``None`` for a pair from a hand-written file or from a benchmark's train split).

    Args:
        query: The anchor text.
        positive: The text it should retrieve.
        negatives: Mined texts it should not retrieve (may be empty).
        doc_id: The source document; the dev split never shares a document with training.
        kind: A :class:`PairKind`; a hand-written file's other labels are kept as written.
        generator: A :class:`Generator`; as for ``kind``.
        key: synth's deterministic id of the planned example (unique in a synth file).
        persona: The persona the LLM wrote as.
        chunk_id: The chunk of ``doc_id`` the pair was made from.
        llm_model: The LLM that wrote it.
        template_hash: The prompt template it was written from.
        margins: The teacher's score margins, one per negative (empty: not labelled).
    """

    query: str
    positive: str
    negatives: tuple[str, ...]
    doc_id: str
    kind: PairKind | str | None = None
    generator: Generator | str | None = None
    _: KW_ONLY
    key: str | None = None
    persona: str | None = None
    chunk_id: str | None = None
    llm_model: str | None = None
    template_hash: str | None = None
    margins: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.margins and len(self.margins) != len(self.negatives):
            raise ValueError(f"{len(self.margins)} margins for {len(self.negatives)} negatives")

    def to_record(self) -> dict[str, Any]:
        """The pair as one line's JSON object: every field, ``None`` as null, in the file's field order.

        ``margins`` is present only when the pair has them, so an unlabelled file reads as before.
        """
        record = {
            "key": self.key,
            "query": self.query,
            "positive": self.positive,
            "negatives": list(self.negatives),
            "persona": self.persona,
            "kind": None if self.kind is None else str(self.kind),
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "generator": None if self.generator is None else str(self.generator),
            "llm_model": self.llm_model,
            "template_hash": self.template_hash,
        }
        if self.margins:
            record["margins"] = list(self.margins)
        return record


@dataclass(frozen=True)
class PairFile:
    """The pairs of one file and what identifies it.

    Args:
        path: The file read.
        pairs: Its pairs in file order (exact repeats dropped unless read with ``strict``).
        sha256: Checksum of the file's bytes.
        duplicates: How many exact repeats (same query, positive and negatives) were dropped.
        card: The synth card beside the file (:func:`card_path`), when there is one.
    """

    path: Path
    pairs: tuple[Pair, ...]
    sha256: str
    duplicates: int
    card: SynthCard | None


#: Fields every pair needs, and those synth's contract adds (``strict``).
_TEXT_FIELDS = ("query", "positive", "doc_id")
_SYNTH_TEXT_FIELDS = ("key", "chunk_id")
_OPTIONAL_TEXT_FIELDS = ("persona", "llm_model", "template_hash")


def pair_from_record(record: Any, where: str = "record", *, strict: bool = False) -> Pair:
    """Check a decoded JSON object and make it a :class:`Pair`: the one parser of the format.

    Args:
        record: One decoded line.
        where: Prefix of the error message (``line 3``).
        strict: Check synth's whole contract: ``key`` and ``chunk_id`` are non-empty strings,
            ``persona``, ``llm_model`` and ``template_hash`` strings or null, ``kind`` and
            ``generator`` known values. Otherwise only the fields training needs are checked,
            the others kept when they are strings and dropped when not.

    Raises:
        ValueError: ``"<where>: <the first problem>"``.
    """
    if not isinstance(record, dict):
        raise ValueError(f"{where}: not a JSON object")
    for name in _TEXT_FIELDS + (_SYNTH_TEXT_FIELDS if strict else ()):
        if name not in record:
            raise ValueError(f"{where}: missing field {name!r}")
        if not isinstance(record[name], str) or not record[name].strip():
            raise ValueError(f"{where}: field {name!r} must be a non-empty string")
    negatives = record.get("negatives", [])
    if not isinstance(negatives, list) or not all(isinstance(n, str) and n.strip() for n in negatives):
        raise ValueError(f"{where}: field 'negatives' must be a list of non-empty strings")
    margins = record.get("margins", [])
    if (
        not isinstance(margins, list)
        or not all(_finite_number(m) for m in margins)
        or (margins and len(margins) != len(negatives))
    ):
        raise ValueError(f"{where}: field 'margins' must be a list of finite numbers, one per negative")
    if strict:
        for name in _OPTIONAL_TEXT_FIELDS:
            if record.get(name) is not None and not isinstance(record[name], str):
                raise ValueError(f"{where}: field {name!r} must be a string or null")
        try:
            kind, generator = PairKind(record.get("kind")), Generator(record.get("generator"))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    else:
        kind, generator = _known(PairKind, record.get("kind")), _known(Generator, record.get("generator"))

    def text(name: str) -> str | None:
        value = record.get(name)
        return value if isinstance(value, str) else None

    return Pair(
        query=record["query"],
        positive=record["positive"],
        negatives=tuple(negatives),
        doc_id=record["doc_id"],
        kind=kind,
        generator=generator,
        key=text("key"),
        persona=text("persona"),
        chunk_id=text("chunk_id"),
        llm_model=text("llm_model"),
        template_hash=text("template_hash"),
        margins=tuple(float(m) for m in margins),
    )


def _finite_number(value: Any) -> bool:
    """A JSON number that is a finite float (bounds, not ``math.isfinite``: that raises OverflowError on 10**400)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) <= sys.float_info.max


def _known(vocabulary: type[StrEnum], value: Any) -> StrEnum | str | None:
    """A string as the vocabulary's member when it is one, else as written; anything else as ``None``."""
    if not isinstance(value, str):
        return None
    try:
        return vocabulary(value)
    except ValueError:
        return value


def read_pairs(path: Path | str, *, strict: bool = False) -> PairFile:
    """Read and check a pairs JSONL file (a line is ended by ``\\n`` only; U+2028 may sit inside a string).

    Args:
        path: The file.
        strict: Read it as synth's own output, for checking synth: every line meets the whole
            contract (see :func:`pair_from_record`), keys are unique, every line is kept, and a
            file with no pairs is allowed. By default (``adapt``, ``prune``) only what training
            needs is checked, exact repeats are dropped and counted, and a file with no pairs is an
            error: training on nothing, or on half a file, would go unnoticed.

    Raises:
        DataError: naming the file (and line): the file is missing, not UTF-8 or (by default)
            empty; a line is not JSON, not an object, or lacks or mistypes a field; (``strict``) a
            key repeats.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(LABEL, str(path), "missing file (no such file or directory)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(LABEL, str(path), f"not UTF-8 text (byte {exc.start})") from None
    pairs: list[Pair] = []
    keys: set[str | None] = set()
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    duplicates = 0
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): see jsonl_line
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            record = loads_text(line)
        except ValueError as exc:
            raise DataError(LABEL, str(path), f"{where}: invalid JSON ({exc})") from None
        try:
            pair = pair_from_record(record, where, strict=strict)
        except ValueError as exc:
            raise DataError(LABEL, str(path), str(exc)) from None
        if strict:
            if pair.key in keys:
                raise DataError(LABEL, str(path), f"{where}: duplicate key {pair.key!r}")
            keys.add(pair.key)
        else:
            identity = (pair.query, pair.positive, pair.negatives)
            if identity in seen:
                duplicates += 1
                continue
            seen.add(identity)
        pairs.append(pair)
    if not pairs and not strict:
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


#: Characters that ``str.splitlines`` treats as line breaks but JSON leaves unescaped (with ``ensure_ascii=False``).
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def jsonl_line(record: dict[str, Any]) -> str:
    """One JSONL line: UTF-8 text kept readable, but no character any reader could take for a line break."""
    line = json.dumps(record, ensure_ascii=False)
    for char, escaped in _LINE_BREAKS.items():
        if char in line:
            line = line.replace(char, escaped)
    return line + "\n"


def write_pairs(path: Path, pairs: Iterable[Pair]) -> None:
    """Write a complete pairs file atomically (a hidden file beside ``path``, synced, then renamed; parents created)."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            for pair in pairs:
                fh.write(jsonl_line(pair.to_record()))
            fh.flush()
            os.fsync(fh.fileno())

    write_atomic(Path(path), write)


def card_path(pairs_path: Path) -> Path:
    """Where synth's run card for a pairs file is: ``<stem>.card.json`` beside it, so several runs can share a folder."""
    pairs_path = Path(pairs_path)
    return pairs_path.with_name(f"{pairs_path.stem}.card.json")


def read_card(pairs_path: Path) -> SynthCard | None:
    """The synth run card beside a pairs file, or ``None`` when absent or unreadable (not a synth card)."""
    card = card_path(pairs_path)
    if not card.is_file():
        return None
    try:
        return SynthCard.from_dict(loads_text(card.read_text(encoding="utf-8")))  # deep nesting: a ValueError
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: unreadable synth card (%s); the model card will not summarise it", card, exc)
        return None
