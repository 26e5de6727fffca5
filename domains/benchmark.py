"""Open a built benchmark folder: verify its files against the manifest and load task tables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl

from domainemb.domains.fetch import sha256_file
from domainemb.domains.manifest import MANIFEST, Manifest, TaskEntry
from domainemb.domains.tables import Tables
from domainemb.errors import DataError


@dataclass(frozen=True)
class Benchmark:
    """A built, self-describing benchmark folder."""

    path: Path
    manifest: Manifest

    @classmethod
    def open(cls, path: Path | str, verify: bool = True) -> Benchmark:
        """Read the manifest; with ``verify``, check every task file's presence and sha256.

        Raises:
            DataError: naming the benchmark and the missing or altered file.
        """
        path = Path(path)
        bench = cls(path=path, manifest=Manifest.read(path))
        if verify:
            for task in bench.manifest.tasks:
                bench.verify_task(task)
        return bench

    @cached_property
    def checksum(self) -> str:
        """sha256 of the manifest, which pins every file of the benchmark."""
        return hashlib.sha256((self.path / MANIFEST).read_bytes()).hexdigest()

    @property
    def tasks(self) -> list[TaskEntry]:
        return self.manifest.tasks

    def task(self, name: str) -> TaskEntry:
        return self.manifest.task(name)

    def verify_task(self, task: TaskEntry) -> None:
        for name, expected in task.files.items():
            file = self.path / task.folder / name
            if not file.is_file():
                raise DataError(f"benchmark {self.path}", f"{task.folder}/{name}", "missing file")
            if sha256_file(file) != expected:
                raise DataError(
                    f"benchmark {self.path}", f"{task.folder}/{name}", "checksum mismatch: file was altered"
                )

    def tables(self, task: TaskEntry | str) -> Tables:
        task = self.task(task) if isinstance(task, str) else task
        out = {}
        for name in task.files:
            file = self.path / task.folder / name
            try:
                out[name.removesuffix(".parquet")] = pl.read_parquet(file)
            except Exception as exc:  # polars/arrow raise several types on a damaged file
                raise DataError(f"benchmark {self.path}", f"{task.folder}/{name}", f"unreadable: {exc}") from None
        return out
