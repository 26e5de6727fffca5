"""synth's side of the pairs file (the format itself is :mod:`domainemb.pairs`): the deterministic
key of a planned example, and the append-only log behind resumption.

Resumption: every finished item is one line appended with a single ``write`` to a file opened in
append mode. After ``kill -9`` the file holds whole lines, plus at most one torn last line; opening
the log again cuts that torn tail, and the run skips every key already present. So a killed run
followed by the same command loses no item and duplicates none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domainemb.errors import DataError
from domainemb.pairs import Generator, PairKind, jsonl_line
from domainemb.synth.text import stable_hash


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
