"""The on-disk layout of each task type, helpers to build it, and its validation.

A task's data is a set of named tables (polars DataFrames, one parquet file each). The names and
columns follow from the task type alone:

=========================  ==========================================================================
type                       tables and columns
=========================  ==========================================================================
Retrieval                  corpus(id, title, text), queries(id, text), qrels(query_id, corpus_id, score)
Reranking                  as Retrieval, plus candidates(query_id, corpus_ids: list)
STS                        test(sentence1, sentence2, score: float)
PairClassification         test(sentence1, sentence2, label: 0/1)
Classification             train(text, label), test(text, label)
MultilabelClassification   train(text, labels: list), test(text, labels: list)
Clustering                 test(text, label)
Summarization              test(text, human_summaries: list, machine_summaries: list, relevance: list)
=========================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from domainemb.errors import DataError
from domainemb.types import TaskType

Tables = dict[str, pl.DataFrame]


@dataclass(frozen=True)
class CountedTables:
    """What a task's ``build`` returns when it also says what it left out or kept of its data.

    Args:
        tables: The task's tables, as a plain ``build`` returns them.
        data_counts: Counts by reason (a user's BEIR folder: the empty texts and the queries without a
            test judgement it skipped; a corpus task: the chunks and queries its generation dropped),
            written to the manifest entry's ``data_counts``.
    """

    tables: Tables
    data_counts: Mapping[str, int] = field(default_factory=dict)


_STR = pl.Utf8
_STRS = pl.List(pl.Utf8)

SCHEMAS: dict[TaskType, dict[str, dict[str, pl.DataType]]] = {
    TaskType.RETRIEVAL: {
        "corpus": {"id": _STR, "title": _STR, "text": _STR},
        "queries": {"id": _STR, "text": _STR},
        "qrels": {"query_id": _STR, "corpus_id": _STR, "score": pl.Int64},
    },
    TaskType.STS: {"test": {"sentence1": _STR, "sentence2": _STR, "score": pl.Float64}},
    TaskType.PAIR_CLASSIFICATION: {"test": {"sentence1": _STR, "sentence2": _STR, "label": pl.Int64}},
    TaskType.CLASSIFICATION: {
        "train": {"text": _STR, "label": _STR},
        "test": {"text": _STR, "label": _STR},
    },
    TaskType.MULTILABEL_CLASSIFICATION: {
        "train": {"text": _STR, "labels": _STRS},
        "test": {"text": _STR, "labels": _STRS},
    },
    TaskType.CLUSTERING: {"test": {"text": _STR, "label": _STR}},
    TaskType.SUMMARIZATION: {
        "test": {
            "text": _STR,
            "human_summaries": _STRS,
            "machine_summaries": _STRS,
            "relevance": pl.List(pl.Float64),
        }
    },
}
SCHEMAS[TaskType.RERANKING] = {
    **SCHEMAS[TaskType.RETRIEVAL],
    "candidates": {"query_id": _STR, "corpus_ids": _STRS},
}

# Columns whose values are texts a model will encode; they must not be empty.
TEXT_COLUMNS = {"text", "sentence1", "sentence2", "human_summaries", "machine_summaries"}


# ----------------------------------------------------------------------------- constructors
def retrieval_tables(
    corpus: Iterable[tuple[str, str, str]],
    queries: Iterable[tuple[str, str]],
    qrels: Iterable[tuple[str, str, int]],
    candidates: dict[str, Sequence[str]] | None = None,
) -> Tables:
    """Tables for a retrieval task, or a reranking task when ``candidates`` is given.

    Args:
        corpus: (doc id, title, text); title may be "".
        queries: (query id, text).
        qrels: (query id, doc id, relevance >= 1; 0 marks a judged non-relevant doc).
        candidates: query id -> the doc ids to rerank (reranking only).
    """
    tables = {
        "corpus": _frame(corpus, SCHEMAS[TaskType.RETRIEVAL]["corpus"]),
        "queries": _frame(queries, SCHEMAS[TaskType.RETRIEVAL]["queries"]),
        "qrels": _frame(qrels, SCHEMAS[TaskType.RETRIEVAL]["qrels"]),
    }
    if candidates is not None:
        tables["candidates"] = _frame(
            [(q, list(ids)) for q, ids in candidates.items()], SCHEMAS[TaskType.RERANKING]["candidates"]
        )
    return tables


def pair_tables(pairs: Iterable[tuple[str, str, float | int]], type: TaskType) -> Tables:
    """STS (float score) or pair-classification (0/1 label) test table."""
    schema = SCHEMAS[type]["test"]
    return {"test": _frame(pairs, schema)}


def labelled_tables(splits: dict[str, Iterable[tuple[str, object]]], type: TaskType) -> Tables:
    """Classification / multilabel / clustering tables from {split: [(text, label or labels)]}."""
    schema = SCHEMAS[type]
    return {split: _frame(rows, schema[split]) for split, rows in splits.items()}


def summarization_tables(rows: Iterable[tuple[str, list[str], list[str], list[float]]]) -> Tables:
    return {"test": _frame(rows, SCHEMAS[TaskType.SUMMARIZATION]["test"])}


def _frame(rows: Iterable[Sequence[object]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=schema, orient="row")


# ----------------------------------------------------------------------------- validation
def validate(
    task: str,
    type: TaskType,
    tables: Tables,
    min_score: float | None = None,
    max_score: float | None = None,
    *,
    queries_need_relevant: bool = True,
) -> Tables:
    """Check a task's tables against its type; return them cast to the canonical schema.

    Args:
        task: The task's name, for the error message.
        type: The task type; decides the tables and their rules.
        tables: The task's tables.
        min_score / max_score: The score range of an STS or summarization task.
        queries_need_relevant: Every retrieval query needs a relevant document (score > 0). False:
            a judgement is enough, so queries whose judgements are all 0 are kept, as mteb does.

    Raises:
        DataError: naming the task and the table, for missing tables or columns, empty texts,
            duplicate ids, qrels or candidates pointing at missing documents, bad labels or scores
            (a NaN or infinite score among them).
    """
    schema = SCHEMAS[type]
    missing = sorted(set(schema) - set(tables))
    if missing:
        raise DataError(task, missing[0], f"missing table for a {type} task (needs {', '.join(schema)})")
    extra = sorted(set(tables) - set(schema))
    if extra:
        raise DataError(task, extra[0], f"unexpected table for a {type} task")
    out: Tables = {}
    for name, cols in schema.items():
        df = tables[name]
        absent = [c for c in cols if c not in df.columns]
        if absent:
            raise DataError(task, name, f"missing column {absent[0]!r}")
        try:
            df = df.select([pl.col(c).cast(t, strict=True) for c, t in cols.items()])
        except Exception as exc:  # polars raises several error types on failed casts
            raise DataError(task, name, f"wrong column type: {str(exc).splitlines()[0]}") from None
        if df.height == 0:
            raise DataError(task, name, "has no rows")
        for c in cols:
            if df[c].null_count():
                raise DataError(task, name, f"column {c!r} has missing values")
            if c in TEXT_COLUMNS:
                _check_texts(task, name, c, df[c])
        out[name] = df
    _check_type_rules(task, type, out, min_score, max_score, queries_need_relevant)
    return out


def _check_texts(task: str, table: str, column: str, series: pl.Series) -> None:
    flat = series.explode() if series.dtype == _STRS else series
    if flat.null_count():
        raise DataError(task, table, f"column {column!r} has missing texts")
    empty = flat.str.strip_chars().str.len_chars() == 0
    if empty.any():
        row = int(empty.arg_max())
        raise DataError(task, table, f"empty text in column {column!r} (row {row})")


def _unique(task: str, table: str, series: pl.Series) -> None:
    dup = series.filter(series.is_duplicated())
    if dup.len():
        raise DataError(task, table, f"duplicate id {dup[0]!r}")


def _check_type_rules(
    task: str, type: TaskType, t: Tables, lo: float | None, hi: float | None, queries_need_relevant: bool = True
) -> None:
    if type in (TaskType.RETRIEVAL, TaskType.RERANKING):
        _unique(task, "corpus", t["corpus"]["id"])
        _unique(task, "queries", t["queries"]["id"])
        doc_ids = set(t["corpus"]["id"].to_list())
        query_ids = set(t["queries"]["id"].to_list())
        qrels = t["qrels"]
        if qrels.select(pl.struct("query_id", "corpus_id").is_duplicated().any()).item():
            raise DataError(task, "qrels", "duplicate (query_id, corpus_id) judgement")
        for qid, did in zip(qrels["query_id"], qrels["corpus_id"]):
            if did not in doc_ids:
                raise DataError(task, "qrels", f"query {qid!r} points at missing document {did!r}")
            if qid not in query_ids:
                raise DataError(task, "qrels", f"judgement for missing query {qid!r}")
        positive = set(qrels.filter(pl.col("score") > 0)["query_id"].to_list())
        lonely = sorted(query_ids - positive)
        if lonely and queries_need_relevant:
            raise DataError(task, "queries", f"query {lonely[0]!r} has no relevant document in qrels")
        unjudged = sorted(query_ids - set(qrels["query_id"].to_list()))
        if unjudged:
            raise DataError(task, "queries", f"query {unjudged[0]!r} has no judgement in qrels")
        if type is TaskType.RERANKING:
            cand = t["candidates"]
            _unique(task, "candidates", cand["query_id"])
            for qid, ids in zip(cand["query_id"], cand["corpus_ids"]):
                if qid not in query_ids:
                    raise DataError(task, "candidates", f"candidates for missing query {qid!r}")
                for did in ids:
                    if did not in doc_ids:
                        raise DataError(task, "candidates", f"query {qid!r} lists missing document {did!r}")
            if set(cand["query_id"].to_list()) != query_ids:
                raise DataError(task, "candidates", "every query needs a candidate list")
    elif type is TaskType.PAIR_CLASSIFICATION:
        bad = t["test"].filter(~pl.col("label").is_in([0, 1]))
        if bad.height:
            raise DataError(task, "test", f"label must be 0 or 1, got {bad['label'][0]}")
        if t["test"]["label"].n_unique() < 2:
            raise DataError(task, "test", "needs both positive and negative pairs")
    elif type in (TaskType.STS, TaskType.SUMMARIZATION):
        if lo is None or hi is None or not lo < hi:
            raise DataError(task, "test", f"needs a score range min_score < max_score, got {lo}..{hi}")
        scores = t["test"]["score"] if type is TaskType.STS else t["test"]["relevance"].explode()
        finite = scores.is_finite()
        if not finite.all():  # NaN passes every comparison below, and is scored as nan
            i = int((~finite).arg_max())
            where = f" (row {i})" if type is TaskType.STS else ""
            raise DataError(task, "test", f"score {scores[i]} is not a finite number{where}")
        if scores.min() < lo or scores.max() > hi:
            raise DataError(task, "test", f"scores outside {lo}..{hi}: {scores.min()}..{scores.max()}")
        if type is TaskType.SUMMARIZATION:
            df = t["test"]
            n_machine = df["machine_summaries"].list.len()
            if (n_machine != df["relevance"].list.len()).any():
                raise DataError(task, "test", "each machine summary needs exactly one relevance score")
    elif type in (TaskType.CLASSIFICATION, TaskType.CLUSTERING):
        for name, df in t.items():
            if df["label"].n_unique() < 2:
                raise DataError(task, name, "needs at least two labels")
        if type is TaskType.CLASSIFICATION:
            unseen = set(t["test"]["label"].to_list()) - set(t["train"]["label"].to_list())
            if unseen:
                raise DataError(task, "test", f"label {sorted(unseen)[0]!r} never occurs in train")
    elif type is TaskType.MULTILABEL_CLASSIFICATION:
        # A text may carry no label at all (e.g. an abstract with no hallmark), but a split needs two.
        for name, df in t.items():
            if df["labels"].explode().drop_nulls().n_unique() < 2:
                raise DataError(task, name, "needs at least two distinct labels")
