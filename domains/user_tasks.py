"""The user's own labelled tasks (``build-benchmark --task DIR``), validated and checksummed like ours.

Two layouts:

* **Retrieval (BEIR)**: ``DIR/corpus.jsonl`` (``_id``, ``title``, ``text``), ``DIR/queries.jsonl``
  (``_id``, ``text``), ``DIR/qrels/test.tsv`` (``query-id``, ``corpus-id``, ``score``; header row).
  An optional ``DIR/task.yaml`` may give ``name``, ``description``, ``licence``.
  Folders are read as BEIR publishes them: ``qrels/train.tsv`` and ``qrels/dev.tsv`` may sit beside
  the test judgements (they are not read), queries with no test judgement are left out, empty
  documents and queries are skipped with a warning, and queries whose judgements are all 0 are kept,
  as mteb does; the counts go into the manifest (``data_counts``). ``strict`` refuses all of these.
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
import logging
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from domainemb.domains.fetch import sha256_file
from domainemb.domains.readers import decode, parse_jsonl
from domainemb.domains.tables import (
    CountedTables,
    Tables,
    labelled_tables,
    pair_tables,
    retrieval_tables,
    validate,
)
from domainemb.errors import DataError
from domainemb.types import Domain, LicenceFlag, Source, SourceFile, TaskSpec, TaskType
from domainemb.yamlconfig import load_yaml

log = logging.getLogger(__name__)

#: A judgement's score: ASCII digits (str.isdigit also takes '²'), few enough for an int64 column.
_JUDGEMENT = re.compile(r"-?[0-9]{1,18}")

_TYPES = {
    "sts": TaskType.STS,
    "pair-classification": TaskType.PAIR_CLASSIFICATION,
    "classification": TaskType.CLASSIFICATION,
}
_COLUMNS = {
    TaskType.STS: ("sentence1", "sentence2", "score"),
    TaskType.PAIR_CLASSIFICATION: ("sentence1", "sentence2", "label"),
    TaskType.CLASSIFICATION: ("text", "label"),
}


@dataclass(frozen=True)
class TaskYaml:
    """A user task's ``task.yaml``, checked once when read: unknown keys and each key's type.

    Every key is optional; a BEIR folder needs none. An empty value counts as not given.
    """

    name: str | None = None
    type: str | None = None
    data: str | None = None
    train: str | None = None
    test: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    min_score: float | None = None
    max_score: float | None = None
    licence: str | None = None
    description: str | None = None
    citation: str | None = None

    @classmethod
    def read(cls, file: Path, label: str) -> TaskYaml:
        """Read and check ``file``.

        Raises:
            DataError: naming the file (and the key): unreadable YAML, not a mapping, an unknown
                key, a value of the wrong type (a name that is no string or makes no task name, a
                description that is no string, a score bound that is no finite number, columns
                that are not a mapping of the type's columns to the file's).
        """
        try:
            raw = load_yaml(decode(file.read_bytes(), label, str(file)))
        except OSError as exc:
            raise DataError(label, str(file), f"cannot read: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise DataError(label, str(file), f"invalid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise DataError(label, str(file), "must be a mapping of keys")
        keys = {f.name for f in fields(cls)}
        unknown = sorted(set(map(str, raw)) - keys)
        if unknown:
            raise DataError(label, str(file), f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(keys))})")

        def bad(key: str, need: str) -> DataError:
            return DataError(label, str(file), f"{key} must be {need}, got {_shown(raw[key])}")

        values: dict[str, Any] = {}
        for key in ("name", "type", "data", "train", "test", "licence", "description", "citation"):
            value = raw.get(key)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise bad(key, "a string")
            values[key] = value
        if "name" in values and not task_name(values["name"]):
            raise bad("name", "a task name (letters and digits)")
        if "type" in values and values["type"] not in _TYPES:
            raise bad("type", f"one of {', '.join(_TYPES)}")
        for key in ("min_score", "max_score"):
            if raw.get(key) is not None:
                values[key] = _number(raw[key])
                if values[key] is None:
                    raise bad(key, "a finite number")
        if raw.get("columns") is not None:
            columns = raw["columns"]
            if not isinstance(columns, dict):
                raise bad("columns", "a mapping (e.g. {score: similarity})")
            allowed = _COLUMNS.get(_TYPES.get(values.get("type", "")), ())
            for role, column in columns.items():
                if allowed and role not in allowed:
                    raise bad("columns", f"a mapping of {', '.join(allowed)} (unknown {role!r})")
                if not isinstance(role, str) or not isinstance(column, str):
                    raise bad("columns", "a mapping of column names (strings)")
            values["columns"] = dict(columns)
        return cls(**values)


def _number(value: Any) -> float | None:
    """The finite number ``value`` is (a number, or a string holding one), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class UserTaskSpec(TaskSpec):
    """A task read from the user's folder.

    Args:
        strict: Refuse a BEIR folder as often published (see the module) instead of skipping. When not
            strict, a BEIR folder's ``build`` counts in its :class:`~domainemb.domains.tables.CountedTables`
            what it skipped or kept of the user's files, by reason, for the manifest.
    """

    strict: bool = False


def load_user_task(path: Path | str, domain: Domain, *, strict: bool = False) -> UserTaskSpec:
    """Read and check the layout of a user task folder; its data are read again, verified, at build time.

    Args:
        path: The folder.
        domain: The suite it joins.
        strict: Refuse a BEIR folder that has queries without a test judgement, queries whose
            judgements are all 0, or empty documents or queries, instead of leaving them out.

    Raises:
        DataError: naming the task and the file for a missing file, unreadable YAML, unknown keys.
    """
    path = Path(path)
    label = f"user task {path}"
    if not path.is_dir():
        raise DataError(label, str(path), "not a folder (expected a BEIR folder or a folder with task.yaml)")
    config = TaskYaml.read(path / "task.yaml", label) if (path / "task.yaml").is_file() else TaskYaml()
    if (path / "corpus.jsonl").exists() or config.type is None:
        return _beir_task(path, domain, config, label, strict)
    return _table_task(path, domain, config, label, strict)


def task_name(raw: str) -> str:
    """The CamelCase task name made of ``raw``'s letters and digits ("" if it has none)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", raw) if part)


def _name(path: Path, config: TaskYaml) -> str:
    raw = config.name or path.name
    name = task_name(raw)
    if not name:
        raise DataError(f"user task {path}", "task.yaml", f"cannot make a task name from {raw!r}")
    return name


def _source(path: Path, name: str, files: list[Path], config: TaskYaml, label: str) -> Source:
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
        licence=config.licence or "not stated (user data)",
        licence_flag=LicenceFlag.UNCLEAR,
        citation=config.citation or "",
    )


def _read_verified(path: Path, source: Source, rel: str, label: str) -> str:
    """Read a user file again at build time and check it has not changed since it was registered."""
    file = path / rel
    if not file.is_file():
        raise DataError(label, str(file), "missing file")
    if sha256_file(file) != source.file(rel).sha256:
        raise DataError(label, str(file), "checksum mismatch: file changed during the build")
    return decode(file.read_bytes(), label, str(file))


def _beir_task(path: Path, domain: Domain, config: TaskYaml, label: str, strict: bool) -> UserTaskSpec:
    name = _name(path, config)
    rels = ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"]
    source = _source(path, name, [path / r for r in rels], config, label)

    def build(_files) -> CountedTables:
        corpus_rows = parse_jsonl(_read_verified(path, source, rels[0], label), label, str(path / rels[0]))
        query_rows = parse_jsonl(_read_verified(path, source, rels[1], label), label, str(path / rels[1]))
        qrels_text = _read_verified(path, source, rels[2], label)
        corpus = [
            (_field(r, "_id", label, rels[0]), _title(r, label, rels[0]), _field(r, "text", label, rels[0]))
            for r in corpus_rows
        ]
        queries = [(_field(r, "_id", label, rels[1]), _field(r, "text", label, rels[1])) for r in query_rows]
        qrels = []
        try:
            rows = list(csv.reader(io.StringIO(qrels_text), delimiter="\t"))
        except csv.Error as exc:  # e.g. a carriage return inside a cell
            raise DataError(label, str(path / rels[2]), f"malformed TSV: {exc}") from None
        for lineno, row in enumerate(rows, start=1):
            if not row or (lineno == 1 and row[0] == "query-id"):
                continue
            if len(row) != 3 or not _JUDGEMENT.fullmatch(row[2].strip()):
                raise DataError(
                    label, str(path / rels[2]), f"line {lineno}: expected query-id<TAB>corpus-id<TAB>integer score"
                )
            qrels.append((row[0], row[1], int(row[2])))
        counts: dict[str, int] = {}
        if not strict:
            corpus, queries, qrels, counts = _as_published(corpus, queries, qrels, path, rels)
        tables = retrieval_tables(corpus, queries, qrels)
        files = {"corpus": rels[0], "queries": rels[1], "qrels": rels[2]}
        tables = _validated(name, TaskType.RETRIEVAL, tables, files, path, label, queries_need_relevant=strict)
        return CountedTables(tables, counts)  # strict: none counted

    return UserTaskSpec(
        name=name,
        domain=domain,
        type=TaskType.RETRIEVAL,
        description=config.description or f"User retrieval task from {path.name} (BEIR layout).",
        sources=(source,),
        build=build,
        annotations="human-annotated",
        strict=strict,
    )


def _as_published(
    corpus: list[tuple[str, str, str]],
    queries: list[tuple[str, str]],
    qrels: list[tuple[str, str, int]],
    path: Path,
    rels: list[str],
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]], list[tuple[str, str, int]], dict[str, int]]:
    """What of a published BEIR folder can be scored, and the counts of what was left out or kept.

    Empty documents and queries are skipped, with their judgements; queries with no (remaining) test
    judgement are left out (a BEIR queries file serves train, dev and test); queries whose
    judgements are all 0 are kept, as mteb keeps them. Anything else wrong is left for validation.
    """
    kept_docs = [d for d in corpus if d[2].strip()]
    kept_queries = [q for q in queries if q[1].strip()]
    # An id is gone only if no copy of it is kept (duplicate ids are still validation's to refuse).
    gone_docs = {d[0] for d in corpus} - {d[0] for d in kept_docs}
    gone_queries = {q[0] for q in queries} - {q[0] for q in kept_queries}
    kept_qrels = [j for j in qrels if j[0] not in gone_queries and j[1] not in gone_docs]
    judged = {j[0] for j in kept_qrels}
    relevant = {j[0] for j in kept_qrels if j[2] > 0}
    scored = [q for q in kept_queries if q[0] in judged]
    counts = dict(
        skipped_empty_documents=len(corpus) - len(kept_docs),
        skipped_empty_queries=len(queries) - len(kept_queries),
        skipped_judgements_of_empty_texts=len(qrels) - len(kept_qrels),
        skipped_queries_without_test_judgement=len(kept_queries) - len(scored),
        kept_queries_without_relevant_document=sum(1 for q in scored if q[0] not in relevant),
    )
    if counts["skipped_empty_documents"]:
        log.warning(
            "%s: skipped %d empty document(s) (use --strict to refuse them)",
            path / rels[0],
            counts["skipped_empty_documents"],
        )
    if counts["skipped_empty_queries"]:
        log.warning(
            "%s: skipped %d empty quer%s (use --strict to refuse them)",
            path / rels[1],
            counts["skipped_empty_queries"],
            "y" if counts["skipped_empty_queries"] == 1 else "ies",
        )
    if counts["skipped_queries_without_test_judgement"]:
        log.info(
            "%s: %d queries have no judgement in %s (train or dev queries); left out",
            path / rels[1],
            counts["skipped_queries_without_test_judgement"],
            rels[2],
        )
    return kept_docs, scored, kept_qrels, counts


def _inside(path: Path, rel: str, label: str) -> str:
    """A data file's name as task.yaml gives it, as its path inside the task folder (``./p.csv`` is ``p.csv``).

    Raises:
        DataError: the name leads out of the folder (an absolute path, ``../``): the task's files are
            checksummed by their names in the folder.
    """
    folder = Path(os.path.normpath(path.absolute()))
    file = Path(os.path.normpath(folder / rel))
    if not file.is_relative_to(folder) or file == folder:
        raise DataError(label, str(path / "task.yaml"), f"data file {rel!r} is not a file inside the task folder")
    return file.relative_to(folder).as_posix()


def _field(row: Any, key: str, label: str, file: str) -> str:
    if not isinstance(row, dict) or key not in row:
        raise DataError(label, file, f"a record lacks field {key!r}")
    value = row[key]
    # An id may be written as a number; a text must be a string (str() would make null the text 'None').
    if isinstance(value, str) or (key == "_id" and isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise DataError(label, file, f"field {key!r} must be a string, got {_shown(value)}")


def _title(row: dict, label: str, file: str) -> str:
    title = row.get("title")
    if title is None or isinstance(title, str):
        return title or ""
    raise DataError(label, file, f"field 'title' must be a string or null, got {_shown(title)}")


def _table_task(path: Path, domain: Domain, config: TaskYaml, label: str, strict: bool) -> UserTaskSpec:
    name = _name(path, config)
    kind = config.type
    type = _TYPES[kind]
    splits = {"train": config.train, "test": config.test} if type is TaskType.CLASSIFICATION else {"test": config.data}
    if any(v is None for v in splits.values()):
        need = "`train:` and `test:` files" if type is TaskType.CLASSIFICATION else "a `data:` file"
        raise DataError(label, str(path / "task.yaml"), f"a {kind} task needs {need}")
    splits = {split: _inside(path, rel, label) for split, rel in splits.items()}
    columns = {col: config.columns.get(col, col) for col in _COLUMNS[type]}
    source = _source(path, name, [path / f for f in splits.values()], config, label)
    sts = type is TaskType.STS
    lo = config.min_score if config.min_score is not None else (0.0 if sts else None)
    hi = config.max_score if config.max_score is not None else (5.0 if sts else None)

    def build(_files) -> dict:
        out = {}
        for split, rel in splits.items():
            file = str(path / rel)
            out[split] = [
                tuple(_column(r, columns[c], label, file, i, c) for c in _COLUMNS[type])
                for i, r in enumerate(_records(path, source, rel, label), 1)
            ]
        if type is TaskType.CLASSIFICATION:
            tables = labelled_tables({s: [(str(t), str(y)) for t, y in r] for s, r in out.items()}, type)
        else:
            file = str(path / splits["test"])
            conv = _score if sts else _binary
            try:
                tables = pair_tables([(str(a), str(b), conv(y, i)) for i, (a, b, y) in enumerate(out["test"], 1)], type)
            except ValueError as exc:
                raise DataError(label, file, str(exc)) from None
        return _validated(name, type, tables, dict(splits), path, label, lo, hi)

    return UserTaskSpec(
        name=name,
        domain=domain,
        type=type,
        description=config.description or f"User {kind} task from {path.name}.",
        sources=(source,),
        build=build,
        min_score=lo,
        max_score=hi,
        strict=strict,
    )


def _validated(
    name: str,
    type: TaskType,
    tables: Tables,
    files: dict[str, str],
    path: Path,
    label: str,
    lo=None,
    hi=None,
    queries_need_relevant: bool = True,
) -> Tables:
    """Validate like a built-in task, but name the user's file rather than the table."""
    try:
        return validate(name, type, tables, lo, hi, queries_need_relevant=queries_need_relevant)
    except DataError as exc:
        raise DataError(label, str(path / files.get(exc.file, exc.file)), exc.problem) from None


def _score(value: Any, row: int) -> float:
    """A gold score: a finite number (NaN would be scored as nan, a blank cell is no score)."""
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"row {row}: missing score")
    number = _number(value)
    if number is None:
        raise ValueError(f"row {row}: score must be a finite number, got {_shown(value)}")
    return number


def _binary(value: Any, row: int) -> int:
    text = str(value).strip().lower()
    if text in {"1", "true", "yes"}:
        return 1
    if text in {"0", "false", "no"}:
        return 0
    raise ValueError(f"row {row}: pair label must be 0/1, got {value!r}")


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


def _column(record: Any, column: str, label: str, file: str, row: int, role: str) -> Any:
    """The value of ``role`` (``sentence1``, ``score`` ...) in ``column`` of one record: a text must be a string
    (str() would make a JSON list or object its Python repr), a label a string or a number."""
    if not isinstance(record, dict) or column not in record or record[column] is None:
        raise DataError(label, file, f"row {row} lacks column {column!r}")
    value = record[column]
    if role in ("sentence1", "sentence2", "text") and not isinstance(value, str):
        raise DataError(label, file, f"row {row}: column {column!r} must be a string, got {_shown(value)}")
    if role == "label" and isinstance(value, (dict, list)):
        need = "a label (a string or number)"
        raise DataError(label, file, f"row {row}: column {column!r} must be {need}, got {_shown(value)}")
    return value
