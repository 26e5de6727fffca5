"""The user's own labelled tasks (``build-benchmark --task DIR``), validated and checksummed like ours.

Two layouts:

* **Retrieval (BEIR)**: ``DIR/corpus.jsonl`` (``_id``, ``title``, ``text``), ``DIR/queries.jsonl``
  (``_id``, ``text``), ``DIR/qrels/test.tsv`` (``query-id``, ``corpus-id``, ``score``; header row).
  An optional ``DIR/task.yaml`` may give ``name``, ``description``, ``licence``.
* **Pairs, STS or classification**: ``DIR/task.yaml`` naming the type, the data file(s) (JSONL or
  CSV) and the columns, e.g.::

      name: MyFinanceSTS
      type: sts                    # sts | pair-classification | classification
      data: pairs.csv              # classification: `train:` and `test:` files instead
      columns: {sentence1: question, sentence2: answer, score: similarity}
      min_score: 0
      max_score: 5
      licence: CC BY 4.0
      description: Analyst-rated similarity of question pairs.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import yaml

from domainemb.domains.fetch import sha256_file
from domainemb.domains.readers import decode, parse_jsonl
from domainemb.domains.tables import (
    Tables,
    labelled_tables,
    pair_tables,
    retrieval_tables,
    validate,
)
from domainemb.errors import DataError
from domainemb.types import Domain, LicenceFlag, Source, SourceFile, TaskSpec, TaskType

_TYPES = {
    "sts": TaskType.STS,
    "pair-classification": TaskType.PAIR_CLASSIFICATION,
    "classification": TaskType.CLASSIFICATION,
}
_KEYS = {
    "name",
    "type",
    "data",
    "train",
    "test",
    "columns",
    "min_score",
    "max_score",
    "licence",
    "description",
    "citation",
}
_COLUMNS = {
    TaskType.STS: ("sentence1", "sentence2", "score"),
    TaskType.PAIR_CLASSIFICATION: ("sentence1", "sentence2", "label"),
    TaskType.CLASSIFICATION: ("text", "label"),
}


def load_user_task(path: Path | str, domain: Domain) -> TaskSpec:
    """Read and check the layout of a user task folder; its data are read again, verified, at build time.

    Raises:
        DataError: naming the task and the file for a missing file, unreadable YAML, unknown keys.
    """
    path = Path(path)
    label = f"user task {path}"
    if not path.is_dir():
        raise DataError(label, str(path), "not a folder (expected a BEIR folder or a folder with task.yaml)")
    config = _read_yaml(path / "task.yaml", label) if (path / "task.yaml").is_file() else {}
    if (path / "corpus.jsonl").exists() or "type" not in config:
        return _beir_task(path, domain, config, label)
    return _table_task(path, domain, config, label)


def _read_yaml(file: Path, label: str) -> dict[str, Any]:
    try:
        config = yaml.safe_load(decode(file.read_bytes(), label, str(file)))
    except yaml.YAMLError as exc:
        raise DataError(label, str(file), f"invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(config, dict):
        raise DataError(label, str(file), "must be a mapping of keys")
    unknown = sorted(set(config) - _KEYS)
    if unknown:
        raise DataError(label, str(file), f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_KEYS))})")
    return config


def _name(path: Path, config: dict[str, Any]) -> str:
    raw = str(config.get("name") or path.name)
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", raw) if part)
    if not name:
        raise DataError(f"user task {path}", "task.yaml", f"cannot make a task name from {raw!r}")
    return name


def _source(path: Path, name: str, files: list[Path], config: dict[str, Any], label: str) -> Source:
    entries = []
    for f in files:
        if not f.is_file():
            raise DataError(label, str(f), "missing file")
        entries.append(SourceFile(name=str(f.relative_to(path)), sha256=sha256_file(f)))
    return Source(
        key=f"user/{name}",
        repo=path.resolve().as_uri(),
        commit="local",
        files=tuple(entries),
        licence=str(config.get("licence", "not stated (user data)")),
        licence_flag=LicenceFlag.UNCLEAR,
        citation=str(config.get("citation", "")),
    )


def _read_verified(path: Path, source: Source, rel: str, label: str) -> str:
    """Read a user file again at build time and check it has not changed since it was registered."""
    file = path / rel
    if not file.is_file():
        raise DataError(label, str(file), "missing file")
    if sha256_file(file) != source.file(rel).sha256:
        raise DataError(label, str(file), "checksum mismatch: file changed during the build")
    return decode(file.read_bytes(), label, str(file))


def _beir_task(path: Path, domain: Domain, config: dict[str, Any], label: str) -> TaskSpec:
    name = _name(path, config)
    rels = ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"]
    source = _source(path, name, [path / r for r in rels], config, label)

    def build(_files) -> dict:
        corpus_rows = parse_jsonl(_read_verified(path, source, rels[0], label), label, str(path / rels[0]))
        query_rows = parse_jsonl(_read_verified(path, source, rels[1], label), label, str(path / rels[1]))
        qrels_text = _read_verified(path, source, rels[2], label)
        corpus = [
            (_field(r, "_id", label, rels[0]), str(r.get("title") or ""), _field(r, "text", label, rels[0]))
            for r in corpus_rows
        ]
        queries = [(_field(r, "_id", label, rels[1]), _field(r, "text", label, rels[1])) for r in query_rows]
        qrels = []
        for lineno, row in enumerate(csv.reader(io.StringIO(qrels_text), delimiter="\t"), start=1):
            if not row or (lineno == 1 and row[0] == "query-id"):
                continue
            if len(row) != 3 or not row[2].strip().lstrip("-").isdigit():
                raise DataError(
                    label, str(path / rels[2]), f"line {lineno}: expected query-id<TAB>corpus-id<TAB>integer score"
                )
            qrels.append((row[0], row[1], int(row[2])))
        tables = retrieval_tables(corpus, queries, qrels)
        return _validated(
            name, TaskType.RETRIEVAL, tables, {"corpus": rels[0], "queries": rels[1], "qrels": rels[2]}, path, label
        )

    return TaskSpec(
        name=name,
        domain=domain,
        type=TaskType.RETRIEVAL,
        description=str(config.get("description") or f"User retrieval task from {path.name} (BEIR layout)."),
        sources=(source,),
        build=build,
        annotations="human-annotated",
    )


def _field(row: Any, key: str, label: str, file: str) -> str:
    if not isinstance(row, dict) or key not in row:
        raise DataError(label, file, f"a record lacks field {key!r}")
    return str(row[key])


def _table_task(path: Path, domain: Domain, config: dict[str, Any], label: str) -> TaskSpec:
    name = _name(path, config)
    kind = str(config["type"])
    if kind not in _TYPES:
        raise DataError(label, str(path / "task.yaml"), f"type must be one of {', '.join(_TYPES)}, got {kind!r}")
    type = _TYPES[kind]
    splits = (
        {"train": config.get("train"), "test": config.get("test")}
        if type is TaskType.CLASSIFICATION
        else {"test": config.get("data")}
    )
    if any(v is None for v in splits.values()):
        need = "`train:` and `test:` files" if type is TaskType.CLASSIFICATION else "a `data:` file"
        raise DataError(label, str(path / "task.yaml"), f"a {kind} task needs {need}")
    columns = dict(config.get("columns") or {})
    for col in _COLUMNS[type]:
        columns.setdefault(col, col)
    source = _source(path, name, [path / str(f) for f in splits.values()], config, label)
    sts = type is TaskType.STS
    lo = float(config["min_score"]) if "min_score" in config else (0.0 if sts else None)
    hi = float(config["max_score"]) if "max_score" in config else (5.0 if sts else None)

    def build(_files) -> dict:
        rows = {s: _records(path, source, str(f), label) for s, f in splits.items()}
        out = {}
        for split, records in rows.items():
            file = str(path / str(splits[split]))
            out[split] = [
                tuple(_column(r, columns[c], label, file, i) for c in _COLUMNS[type]) for i, r in enumerate(records, 1)
            ]
        if type is TaskType.CLASSIFICATION:
            tables = labelled_tables({s: [(str(t), str(y)) for t, y in r] for s, r in out.items()}, type)
        else:
            conv = float if type is TaskType.STS else _binary
            try:
                tables = pair_tables([(str(a), str(b), conv(y)) for a, b, y in out["test"]], type)
            except ValueError as exc:
                raise DataError(label, str(path / str(splits["test"])), str(exc)) from None
        return _validated(name, type, tables, {s: str(f) for s, f in splits.items()}, path, label, lo, hi)

    return TaskSpec(
        name=name,
        domain=domain,
        type=type,
        description=str(config.get("description") or f"User {kind} task from {path.name}."),
        sources=(source,),
        build=build,
        min_score=lo,
        max_score=hi,
    )


def _validated(
    name: str, type: TaskType, tables: Tables, files: dict[str, str], path: Path, label: str, lo=None, hi=None
) -> Tables:
    """Validate like a built-in task, but name the user's file rather than the table."""
    try:
        return validate(name, type, tables, lo, hi)
    except DataError as exc:
        raise DataError(label, str(path / files.get(exc.file, exc.file)), exc.problem) from None


def _binary(value: Any) -> int:
    text = str(value).strip().lower()
    if text in {"1", "true", "yes"}:
        return 1
    if text in {"0", "false", "no"}:
        return 0
    raise ValueError(f"pair label must be 0/1, got {value!r}")


def _records(path: Path, source: Source, rel: str, label: str) -> list[dict[str, Any]]:
    text = _read_verified(path, source, rel, label)
    file = str(path / rel)
    if rel.endswith(".jsonl"):
        return parse_jsonl(text, label, file)
    if rel.endswith(".csv") or rel.endswith(".tsv"):
        try:
            return list(csv.DictReader(io.StringIO(text), delimiter="\t" if rel.endswith(".tsv") else ","))
        except csv.Error as exc:
            raise DataError(label, file, f"malformed CSV: {exc}") from None
    raise DataError(label, file, "data files must be .jsonl, .csv or .tsv")


def _column(record: Any, column: str, label: str, file: str, row: int) -> Any:
    if not isinstance(record, dict) or column not in record or record[column] is None:
        raise DataError(label, file, f"row {row} lacks column {column!r}")
    return record[column]
