"""Deterministic, label-stratified subsampling for ``--size lite``.

Every row gets a stable pseudo-random rank from a hash of its content and the seed, so the
selection does not depend on row order or on the process. Retrieval keeps every relevant
document of the kept queries plus BM25 hard distractors, as MMTEB did for its lite tasks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

from domainemb.domains.tables import Tables
from domainemb.types import TaskType


@dataclass(frozen=True)
class LiteCaps:
    """Row caps of the lite benchmark.

    Args:
        test: Max rows of an evaluation table (pairs, STS, classification, clustering).
        train: Max rows of a classification training table.
        queries: Max queries of a retrieval or reranking task.
        distractors_per_query: BM25 hard distractors kept per retrieval query.
        corpus: Max documents of a lite retrieval corpus (relevant ones always kept).
        summaries: Max source texts of a summarization task.
    """

    test: int = 1000
    train: int = 2000
    queries: int = 300
    distractors_per_query: int = 20
    corpus: int = 5000
    summaries: int = 100


def _rank(values: pl.Series, seed: int) -> list[int]:
    """Row positions sorted by a seeded content hash (ties broken by position)."""
    keys = [hashlib.blake2b(f"{seed}\x1f{v}".encode(), digest_size=8).digest() for v in values.to_list()]
    return sorted(range(len(keys)), key=lambda i: (keys[i], i))


def stratified(
    df: pl.DataFrame, strata: pl.Series, cap: int, seed: int, content: pl.Series | None = None
) -> pl.DataFrame:
    """Keep at most ``cap`` rows, allocating to each stratum in proportion (largest remainder, >= 1 each).

    Args:
        df: Rows to subsample; returned in their original order.
        strata: One label key per row.
        cap: Maximum rows kept.
        seed: Seed of the content hash.
        content: Per-row content to hash (defaults to the row's struct as text).
    """
    if df.height <= cap:
        return df
    if content is None:
        as_text = [
            pl.col(c).cast(pl.List(pl.Utf8)).list.join("\x1e") if isinstance(t, pl.List) else pl.col(c).cast(pl.Utf8)
            for c, t in df.schema.items()
        ]
        content = df.select(pl.concat_str(as_text, separator="\x1f")).to_series()
    groups: dict[str, list[int]] = {}
    for i in _rank(content, seed):
        groups.setdefault(str(strata[i]), []).append(i)
    labels = sorted(groups)
    quota = {k: min(len(groups[k]), 1) for k in labels}
    remaining = cap - sum(quota.values())
    if remaining < 0:  # more strata than the cap: keep the largest strata
        keep_labels = sorted(labels, key=lambda k: (-len(groups[k]), k))[:cap]
        quota = {k: (1 if k in keep_labels else 0) for k in labels}
        remaining = 0
    total = df.height
    exact = {k: len(groups[k]) * cap / total for k in labels}
    extra = {k: max(0, min(len(groups[k]) - quota[k], int(exact[k]) - quota[k])) for k in labels}
    remaining -= sum(extra.values())
    order = sorted(labels, key=lambda k: (-(exact[k] - int(exact[k])), k))
    while remaining > 0:
        progressed = False
        for k in order:
            if remaining and quota[k] + extra[k] < len(groups[k]):
                extra[k] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            break
    chosen = sorted(i for k in labels for i in groups[k][: quota[k] + extra[k]])
    return df[chosen]


def subsample(type: TaskType, tables: Tables, caps: LiteCaps, seed: int) -> Tables:
    """The lite version of a task's (validated) tables."""
    if type in (TaskType.RETRIEVAL, TaskType.RERANKING):
        return _retrieval(type, tables, caps, seed)
    out: Tables = {}
    for name, df in tables.items():
        cap = caps.train if name == "train" else caps.test
        if type is TaskType.STS:
            strata = df["score"].round(0).cast(pl.Int64)
        elif type is TaskType.PAIR_CLASSIFICATION:
            strata = df["label"]
        elif type is TaskType.MULTILABEL_CLASSIFICATION:
            strata = df["labels"].list.sort().list.join("|")
        elif type is TaskType.SUMMARIZATION:
            cap, strata = caps.summaries, pl.Series([0] * df.height)
        else:
            strata = df["label"]
        out[name] = stratified(df, strata, cap, seed)
    if type is TaskType.CLASSIFICATION:  # a stratum may have vanished from train: keep test consistent
        train_labels = set(out["train"]["label"].to_list())
        out["test"] = out["test"].filter(pl.col("label").is_in(list(train_labels)))
    return out


def _retrieval(type: TaskType, tables: Tables, caps: LiteCaps, seed: int) -> Tables:
    queries, qrels, corpus = tables["queries"], tables["qrels"], tables["corpus"]
    if queries.height > caps.queries:
        order = _rank(queries["id"], seed)[: caps.queries]
        queries = queries[sorted(order)]
    qids = queries["id"].to_list()
    qrels = qrels.filter(pl.col("query_id").is_in(qids))
    keep = set(qrels["corpus_id"].to_list())
    out: Tables = {"queries": queries, "qrels": qrels}
    if type is TaskType.RERANKING:
        cand = tables["candidates"].filter(pl.col("query_id").is_in(qids))
        keep |= set(cand["corpus_ids"].explode().to_list())
        out["candidates"] = cand
    elif corpus.height <= caps.corpus:
        keep = set(corpus["id"].to_list())
    else:
        keep |= _bm25_distractors(corpus, queries, keep, caps)
    out["corpus"] = corpus.filter(pl.col("id").is_in(list(keep)))
    return {name: out[name] for name in tables}


def _bm25_distractors(corpus: pl.DataFrame, queries: pl.DataFrame, relevant: set[str], caps: LiteCaps) -> set[str]:
    """The highest-ranked non-relevant BM25 documents per query, within the corpus cap."""
    import logging

    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG
    texts = (corpus["title"] + " " + corpus["text"]).to_list()
    ids = corpus["id"].to_list()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    k = min(len(ids), caps.distractors_per_query + 50)
    hits, _ = retriever.retrieve(
        bm25s.tokenize(queries["text"].to_list(), stopwords="en", show_progress=False),
        k=k,
        show_progress=False,
        n_threads=1,
    )
    budget = max(0, caps.corpus - len(relevant))
    picked: list[str] = []
    seen = set(relevant)
    # Round-robin over ranks so every query gets its hardest distractors before any gets more.
    per_query = [[ids[j] for j in row if ids[j] not in relevant] for row in hits.tolist()]
    for rank in range(caps.distractors_per_query):
        for row in per_query:
            if rank < len(row) and row[rank] not in seen and len(picked) < budget:
                seen.add(row[rank])
                picked.append(row[rank])
    return set(picked)
