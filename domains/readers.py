"""Typed, verified access to a task's source files for builders.

Every reader raises :class:`~domainemb.errors.DataError` naming the dataset and file on
undecodable text, truncated JSON, unreadable spreadsheets or archives, so builders never crash
with a raw traceback on bad data.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domainemb.domains.fetch import Fetcher
from domainemb.errors import DataError
from domainemb.jsonio import loads_text
from domainemb.types import Source


class SourceFiles:
    """Reads the files of sources through a :class:`Fetcher` (mirror or pinned download, sha256-checked)."""

    def __init__(self, fetcher: Fetcher | None = None) -> None:
        self.fetcher = fetcher or Fetcher()

    def path(self, source: Source, name: str) -> Path:
        return self.fetcher.path(source, name)

    def bytes(self, source: Source, name: str) -> bytes:
        return self.path(source, name).read_bytes()

    def text(self, source: Source, name: str, encoding: str = "utf-8") -> str:
        """Decode a file strictly; a wrong encoding is a :class:`DataError`, never mojibake."""
        return decode(self.bytes(source, name), source.key, name, encoding)

    def lines(self, source: Source, name: str, encoding: str = "utf-8") -> list[str]:
        """Non-empty lines, without line endings."""
        return [ln for ln in self.text(source, name, encoding).splitlines() if ln.strip()]

    def json(self, source: Source, name: str) -> Any:
        return parse_json(self.text(source, name), source.key, name)

    def jsonl(self, source: Source, name: str) -> list[Any]:
        return parse_jsonl(self.text(source, name), source.key, name)

    def csv_rows(
        self, source: Source, name: str, delimiter: str = ",", encoding: str = "utf-8", quoting: int = csv.QUOTE_MINIMAL
    ) -> list[list[str]]:
        text = self.text(source, name, encoding)
        try:
            return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter, quoting=quoting) if row]
        except csv.Error as exc:
            raise DataError(source.key, name, f"malformed CSV: {exc}") from None

    def xlsx_rows(self, source: Source, name: str, sheet: str | None = None) -> list[tuple[Any, ...]]:
        """All rows (header included) of one sheet of an .xlsx file."""
        import openpyxl

        try:
            wb = openpyxl.load_workbook(self.path(source, name), read_only=True, data_only=True)
            ws = wb[sheet] if sheet else wb.worksheets[0]
            rows = [tuple(r) for r in ws.iter_rows(values_only=True)]
            wb.close()
        except Exception as exc:  # openpyxl raises many types for broken files
            raise DataError(source.key, name, f"unreadable spreadsheet: {exc}") from None
        return rows

    def tar_members(self, source: Source, name: str) -> Iterator[tuple[str, bytes]]:
        """(member name, content) of every regular file in a tar archive, in archive order."""
        try:
            with tarfile.open(self.path(source, name)) as tar:
                for member in tar:
                    if member.isfile():
                        fh = tar.extractfile(member)
                        assert fh is not None
                        yield member.name, fh.read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(source.key, name, f"unreadable archive: {exc}") from None

    def zip_member(self, source: Source, name: str, member: str) -> bytes:
        try:
            with zipfile.ZipFile(self.path(source, name)) as zf:
                return zf.read(member)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise DataError(source.key, name, f"unreadable zip member {member!r}: {exc}") from None


def decode(data: bytes, dataset: str, file: str, encoding: str = "utf-8") -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(dataset, file, f"not valid {encoding} text (byte {exc.start})") from None
    return text.removeprefix("\ufeff")


def parse_json(text: str, dataset: str, file: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(dataset, file, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def parse_jsonl(text: str, dataset: str, file: str) -> list[Any]:
    rows = []
    for lineno, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may sit inside a JSON string
        if not line.strip():
            continue
        try:
            rows.append(loads_text(line))
        except ValueError as exc:
            raise DataError(dataset, file, f"invalid JSON on line {lineno}: {exc}") from None
    return rows
