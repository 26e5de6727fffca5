"""Training pairs: the record, its deterministic key, the reader, and the append-only log behind resumption.

The JSONL format is the contract between ``synth`` and its consumers (``adapt``, ``prune``)::

    {"key": str, "query": str, "positive": str, "negatives": [str, ...], "persona": str | null,
     "kind": "short-long" | "long-long" | "sts" | "classification", "doc_id": str, "chunk_id": str,
     "generator": "llm" | "ict" | "crop", "llm_model": str | null, "template_hash": str | null}

Lines may carry more fields (the raw log keeps the sampled attributes); readers ignore them.

Resumption: every finished item is one line appended with a single ``write`` to a file opened in
append mode. After ``kill -9`` the file holds whole lines, plus at most one torn last line; opening
the log again cuts that torn tail, and the run skips every key already present. So a killed run
followed by the same command loses no item and duplicates none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from domainemb.errors import DataError
from domainemb.synth.config import Generator, PairKind
from domainemb.synth.text import stable_hash

_STR_FIELDS = ("key", "query", "positive", "doc_id", "chunk_id")
_OPTIONAL_STR = ("persona", "llm_model", "template_hash")


@dataclass(frozen=True)
class Pair:
    """One training example: a query, its positive, optional hard negatives, and where it came from."""

    key: str
    query: str
    positive: str
    negatives: tuple[str, ...]
    persona: str | None
    kind: PairKind
    doc_id: str
    chunk_id: str
    generator: Generator
    llm_model: str | None
    template_hash: str | None

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["negatives"] = list(self.negatives)
        record["kind"] = self.kind.value
        record["generator"] = self.generator.value
        return record


def pair_key(
    generator: Generator | str,
    persona: str | None,
    kind: PairKind | str,
    doc_id: str,
    start: int,
    end: int,
    template_hash: str | None,
    sample: int,
) -> str:
    """Deterministic id of one planned example: the same plan gives the same keys in every run."""
    return stable_hash(str(generator), persona, str(kind), doc_id, start, end, template_hash, sample)[:32]


def pair_from_record(record: Any, where: str = "record") -> Pair:
    """Validate a decoded JSON object as a :class:`Pair`.

    Raises:
        ValueError: describing the first problem.
    """
    if not isinstance(record, dict):
        raise ValueError(f"{where}: not a JSON object")
    for name in _STR_FIELDS:
        if not isinstance(record.get(name), str) or not record[name].strip():
            raise ValueError(f"{where}: field {name!r} must be a non-empty string")
    for name in _OPTIONAL_STR:
        if record.get(name) is not None and not isinstance(record[name], str):
            raise ValueError(f"{where}: field {name!r} must be a string or null")
    negatives = record.get("negatives", [])
    if not isinstance(negatives, list) or not all(isinstance(n, str) and n.strip() for n in negatives):
        raise ValueError(f"{where}: field 'negatives' must be a list of non-empty strings")
    try:
        kind, generator = PairKind(record.get("kind")), Generator(record.get("generator"))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return Pair(
        key=record["key"],
        query=record["query"],
        positive=record["positive"],
        negatives=tuple(negatives),
        persona=record.get("persona"),
        kind=kind,
        doc_id=record["doc_id"],
        chunk_id=record["chunk_id"],
        generator=generator,
        llm_model=record.get("llm_model"),
        template_hash=record.get("template_hash"),
    )


def read_pairs(path: Path | str) -> list[Pair]:
    """Read a pairs JSONL file written by ``domainemb synth``.

    Raises:
        DataError: naming the file and line for a missing file, invalid JSON, a missing or mistyped
            field, an unknown kind or generator, or a duplicate key.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("training pairs", str(path), "missing file")
    pairs, seen = [], set()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                pair = pair_from_record(json.loads(line), f"line {lineno}")
            except json.JSONDecodeError as exc:
                raise DataError("training pairs", str(path), f"line {lineno}: invalid JSON ({exc.msg})") from None
            except ValueError as exc:
                raise DataError("training pairs", str(path), str(exc)) from None
            if pair.key in seen:
                raise DataError("training pairs", str(path), f"line {lineno}: duplicate key {pair.key!r}")
            seen.add(pair.key)
            pairs.append(pair)
    return pairs


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
    """Write a complete pairs file atomically (temporary sibling, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        for pair in pairs:
            fh.write(jsonl_line(pair.to_record()))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class AppendLog:
    """An append-only JSONL log of records with a ``key``; resumable after any crash.

    Opening it reads the keys already present and cuts a torn last line (a write cut short by a
    kill), so every record in the file is whole and counted once. With ``latest``, a key written
    again replaces the earlier record in :attr:`records` (the failure log keeps the last reason).
    """

    path: Path
    latest: bool = False
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    torn: int = 0

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._recover()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _recover(self) -> None:
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a torn tail: the process died inside the write of its last line
            self.torn = 1
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise DataError(
                    "synth log", str(self.path), "a line in the middle is not JSON; the file was edited"
                ) from None
            self._remember(record)

    def _remember(self, record: dict[str, Any]) -> None:
        if self.latest:
            self.records[record["key"]] = record
        else:
            self.records.setdefault(record["key"], record)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def append(self, record: dict[str, Any]) -> None:
        line = jsonl_line(record).encode("utf-8")
        written = os.write(self._fd, line)
        while written < len(line):  # regular files take the whole buffer; be correct regardless
            written += os.write(self._fd, line[written:])
        self._remember(record)

    def values(self) -> Iterator[dict[str, Any]]:
        return iter(self.records.values())

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
