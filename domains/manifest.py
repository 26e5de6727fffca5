"""The benchmark manifest: what a built benchmark folder contains and where it came from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from domainemb.errors import DataError

MANIFEST = "manifest.json"
FORMAT = "domainemb-benchmark/1"


@dataclass(frozen=True)
class TaskEntry:
    """One task of a built benchmark, as recorded in its manifest."""

    name: str
    type: str
    main_score: str
    domain: str
    description: str
    licence: str
    licence_flag: str
    mteb_license: str
    citation: str
    annotations: str
    mteb_domains: list[str]
    min_score: float | None
    max_score: float | None
    origin: str  # "builtin", "user" or "corpus"
    sizes: dict[str, int]
    files: dict[str, str]  # file name (relative to the task folder) -> sha256
    source_checksums: dict[str, dict[str, str]]
    # What a user's BEIR folder held that is not scored as it is: skipped empty documents and
    # queries, queries without a test judgement, and the queries kept whose judgements are all 0.
    # For a corpus task, what its query generation left out (synth/corpus_task.py), from its CountedTables.
    # Empty (and then left out of the manifest) for every other task, and in manifests written before.
    data_counts: dict[str, int] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        return self.name


@dataclass(frozen=True)
class Manifest:
    domain: str
    size: str
    seed: int
    domainemb_version: str
    sources: dict[str, dict[str, object]]
    tasks: list[TaskEntry]
    format: str = FORMAT
    extra: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        raw = asdict(self)
        for task in raw["tasks"]:
            if not task["data_counts"]:
                del task["data_counts"]  # only user folders and corpus tasks: other manifests keep their bytes
        return json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        if not path.is_file():
            raise DataError(str(folder), MANIFEST, "missing: not a built benchmark (run `domainemb build-benchmark`)")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            tasks = [TaskEntry(**t) for t in raw.pop("tasks")]
            manifest = cls(tasks=tasks, **raw)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError) as exc:
            raise DataError(str(folder), MANIFEST, f"unreadable manifest: {exc}") from None
        if manifest.format != FORMAT:
            raise DataError(str(folder), MANIFEST, f"unsupported format {manifest.format!r} (expected {FORMAT})")
        return manifest

    def task(self, name: str) -> TaskEntry:
        from domainemb.errors import unknown_name

        for t in self.tasks:
            if t.name == name:
                return t
        raise unknown_name("task", name, [t.name for t in self.tasks])


def data_revision(task: TaskEntry) -> str:
    """A short hash of the task's files: mteb records it as the dataset revision."""
    return hashlib.sha256(json.dumps(task.files, sort_keys=True).encode()).hexdigest()[:16]
