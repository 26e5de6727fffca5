"""synth's student search over big pools (an IVF index, faiss) and a teacher that scores only what it needs.

* the IVF index, forced on a small pool (``ann_threshold`` 1), keeps exactly the pairs and negatives the
  exact dense search keeps, through ``rank_and_mine`` and through ``synthesize`` (the card says which search
  ran; a rerun reuses the saved centroids);
* calibrated, it reaches recall@k >= 0.99 on a clustered synthetic pool while probing fewer than all lists;
* a bi-encoder or hybrid teacher with consistency off embeds only the queries, positives and drawn
  candidates; in ``rerank`` mode only the positives and the student's top ``rerank_depth``;
* a negative ``--ann-threshold`` is one line and exit code 2, before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest
from synth_data import HashEmbedder, retrieval_benchmark, write_corpus
from typer.testing import CliRunner

from domainemb.evaluation.cache import EmbeddingCache
from domainemb.pairs import Generator, Pair, PairKind, read_pairs
from domainemb.synth import ann
from domainemb.synth.ann import ExactSearch, IVFSearch, SearchKind, pool_search, recall_at_k
from domainemb.synth.config import SynthConfig, TeacherRanking
from domainemb.synth.corpus import Chunk
from domainemb.synth.decontam import HeldOut
from domainemb.synth.postprocess import GUARD_OVERSAMPLE, rank_and_mine
from domainemb.synth.teacher import Teacher, TeacherKind, load_teacher
from domainemb.synth.text import stable_hash


def _clustered(n: int, dim: int, clusters: int, seed: int, spread: float = 0.35) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres: embeddings with structure, as real ones have."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _near(x: np.ndarray, rows: np.ndarray, seed: int, noise: float = 0.1) -> np.ndarray:
    """Queries close to the pool vectors ``rows`` (a query near its passage)."""
    rng = np.random.default_rng(seed)
    q = x[rows] + noise * rng.standard_normal((len(rows), x.shape[1])).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def _pool_and_pairs(docs: int = 80, per_doc: int = 8, dim: int = 24):
    """A pool of ``docs * per_doc`` chunks (clustered embeddings) and one pair per document."""
    emb = _clustered(docs * per_doc, dim, clusters=16, seed=1)
    pool = [Chunk(f"d{i // per_doc}#{i % per_doc}", f"d{i // per_doc}", i % per_doc, 0, 10, f"chunk {i}")
            for i in range(len(emb))]  # fmt: skip
    rows = np.arange(0, len(emb), per_doc)  # each document's first chunk is its pair's positive
    pairs = [
        Pair(f"query {d}", pool[r].text, (), f"d{d}", PairKind.SHORT_LONG, Generator.ICT, key=f"k{d}",
             chunk_id=pool[r].id)
        for d, r in enumerate(rows)
    ]  # fmt: skip
    return pairs, _near(emb, rows, seed=2, noise=0.25), pool, emb


def _config(**kw) -> SynthConfig:
    values = dict(domain="finance", corpus=".", out="x.jsonl", negatives=3, mine_ranks=(5, 40), consistency_top_k=10,
                  teacher="none", mine_margin=1.0)  # fmt: skip
    return SynthConfig(**{**values, **kw})


class DotTeacher(Teacher):
    """A pool teacher whose score is the dot product with its own embedding of each text (a hidden model)."""

    kind = TeacherKind.BI_ENCODER
    fingerprint = "dot"

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.name, self.vectors = "dot", vectors
        self.pool_calls = 0

    def _vec(self, text: str) -> np.ndarray:
        return self.vectors.get(text, np.zeros_like(next(iter(self.vectors.values()))))

    def score_pool(self, queries, pool):
        self.pool_calls += 1
        return np.stack([[self._vec(q) @ self._vec(p) for p in pool] for q in queries]).astype(np.float32)

    def score_pairs(self, queries, passages):
        return np.array([self._vec(q) @ self._vec(p) for q, p in zip(queries, passages)], dtype=np.float32)


def _dense_reference(pairs, q, pool, emb, config):
    """The student's consistency and mining over the whole dense score matrix, as synth did before it searched
    only each query's top k: every other-document chunk ranked, then the rules of ``rank_and_mine``."""
    first, last = config.mine_ranks
    docs = np.array([c.doc_id for c in pool])
    chunk = {c.text: j for j, c in enumerate(pool)}
    kept = []
    for row, pair in enumerate(pairs):
        s = q[row] @ emb.T  # (pool,)
        pos = float(q[row] @ emb[chunk[pair.positive]])
        s[docs == pair.doc_id] = -np.inf
        if (s > pos).sum() >= config.consistency_top_k:
            continue
        order = [j for j in np.argsort(-s, kind="stable")[first:last].tolist() if s[j] < config.mine_margin * pos]
        rng = random.Random(stable_hash(config.seed, "negatives", pair.key))
        chosen = sorted(rng.sample(order, min(config.negatives, len(order))), key=lambda j: -s[j])
        kept.append(dataclasses.replace(pair, negatives=tuple(pool[j].text for j in chosen)))
    return kept


@pytest.mark.parametrize("with_teacher", [False, True], ids=["student", "teacher-rerank"])
def test_the_ivf_index_keeps_the_pairs_and_negatives_the_exact_search_keeps(with_teacher, monkeypatch):
    monkeypatch.setattr(ann, "TARGET_RECALL", 1.0)  # every query's top k exactly: all of them are the sample
    monkeypatch.setattr(ann, "RECALL_SAMPLE", 10_000)
    pairs, q, pool, emb = _pool_and_pairs(docs=400)
    teacher = None
    if with_teacher:  # the teacher sees the student's embeddings, slightly perturbed: it disagrees sometimes
        rng = np.random.default_rng(3)
        noisy = emb + 0.3 * rng.standard_normal(emb.shape).astype(np.float32)
        teacher = DotTeacher({**{c.text: v for c, v in zip(pool, noisy)}, **{p.query: v for p, v in zip(pairs, q)}})
    config = _config(ann_threshold=1, teacher_ranking=TeacherRanking.RERANK, rerank_depth=12)
    exact = rank_and_mine(pairs, q, pool, emb, HashEmbedder(), config, teacher, ExactSearch(emb))
    index = pool_search(emb, config.ann_threshold, config.seed)
    assert isinstance(index, IVFSearch)
    approximate = rank_and_mine(pairs, q, pool, emb, HashEmbedder(), config, teacher, index)
    assert 0 < exact.dropped < len(pairs)  # consistency decided something
    assert sum(1 for p in exact.pairs if p.negatives) > len(exact.pairs) // 2
    assert approximate.pairs == exact.pairs and approximate.dropped == exact.dropped
    if not with_teacher:
        assert exact.pairs == _dense_reference(pairs, q, pool, emb, config)
    assert approximate.guarded == exact.guarded
    info = approximate.search["student"]
    assert info["kind"] == "ivf-flat" and info["recall"] == 1.0
    assert info["nprobe"] < info["nlist"]  # an approximate search, not every list probed
    assert exact.search["student"]["kind"] == "exact"
    assert approximate.search["k"] == approximate.search["depth"] + 8  # the depth plus one document's chunks
    if with_teacher:
        assert approximate.search["teacher"] == "rerank" and teacher.pool_calls == 0


def test_the_calibrated_ivf_index_reaches_the_target_recall():
    x = _clustered(8_000, 32, clusters=100, seed=4, spread=0.5)
    queries = _near(x, np.random.default_rng(5).choice(len(x), 1_000, replace=False), seed=6)
    index = IVFSearch(x, seed=7)
    index.calibrate(queries, k=100)  # on 256 of the 1,000 queries
    _, found = index.search(queries, 100)
    _, exact = ExactSearch(x).search(queries, 100)
    assert recall_at_k(found, exact) >= 0.99
    assert index.nprobe < index.nlist and index.describe()["recall"] >= ann.TARGET_RECALL
    scores, ids = index.search(queries[:5], 100)
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    np.testing.assert_allclose(scores, np.take_along_axis(queries[:5] @ x.T, ids, axis=1), rtol=1e-5, atol=1e-6)


def test_the_ivf_index_is_deterministic_and_its_centroids_are_kept(tmp_path):
    x = _clustered(3_000, 16, clusters=20, seed=8)
    cache = tmp_path / "pool.ivf.npz"
    first = IVFSearch(x, seed=1, cache=cache)
    assert cache.is_file() and not first.centroids_reused
    again = IVFSearch(x, seed=1, cache=cache)
    assert again.centroids_reused
    fresh = IVFSearch(x, seed=1)  # trained again, with the same seed: the same lists
    for other in (again, fresh):
        np.testing.assert_array_equal(other.search(x[:50], 30)[1], first.search(x[:50], 30)[1])
    moved = IVFSearch(x[::-1].copy(), seed=1, cache=cache)  # another pool: the kept centroids do not fit
    assert not moved.centroids_reused


def _synth_config(tmp_path, **kw) -> SynthConfig:
    values = dict(domain="finance", corpus=write_corpus(tmp_path / "corpus", docs=6, sentences=30),
                  out=tmp_path / "run" / "pairs.jsonl", generator=Generator.ICT, chunk_tokens=40, chunk_overlap=8,
                  negatives=2, mine_ranks=(0, 12), consistency_top_k=5, teacher="none", near_duplicate=1.0)  # fmt: skip
    return SynthConfig(**{**values, **kw})


def test_synth_through_the_index_writes_what_the_exact_search_writes(tmp_path, monkeypatch):
    from domainemb.synth.pipeline import synthesize

    monkeypatch.setattr(ann, "TARGET_RECALL", 1.0)
    held_out = HeldOut.from_texts([])
    exact = synthesize(_synth_config(tmp_path / "a", ann_threshold=0), embedder=HashEmbedder(), held_out=held_out)
    config = _synth_config(tmp_path / "b", ann_threshold=1)
    indexed = synthesize(config, embedder=HashEmbedder(), held_out=held_out)
    pairs = read_pairs(indexed.out, strict=True).pairs
    assert pairs == read_pairs(exact.out, strict=True).pairs and any(p.negatives for p in pairs)
    card = json.loads(indexed.card_path.read_text())
    assert card["search"]["student"]["kind"] == "ivf-flat" and not card["search"]["student"]["centroids_reused"]
    assert card["config"]["ann_threshold"] == 1
    assert json.loads(exact.card_path.read_text())["search"]["student"] == {
        "kind": "exact", "pool": card["corpus"]["training_chunks"]
    }  # fmt: skip
    assert config.out.with_name("pairs.pool.ivf.npz").is_file()
    again = synthesize(config, embedder=HashEmbedder(), held_out=held_out)  # a rerun: the index is not trained again
    assert json.loads(again.card_path.read_text())["search"]["student"]["centroids_reused"]
    assert read_pairs(again.out, strict=True).pairs == pairs


class _Counting:
    """Records every text the teacher's sentence-transformers model encodes."""

    def __init__(self, monkeypatch) -> None:
        from sentence_transformers import SentenceTransformer

        self.texts: list[str] = []
        real = SentenceTransformer.encode

        def encode(model, inputs, *args, **kwargs):
            self.texts += list(inputs)
            return real(model, inputs, *args, **kwargs)

        monkeypatch.setattr(SentenceTransformer, "encode", encode)


def _text_pool_and_pairs(n_docs: int = 30, per_doc: int = 8):
    student = HashEmbedder()
    words = ["revenue", "margin", "cash", "dividend", "debt", "capex", "profit", "tax", "yield", "equity"]
    pool = [
        Chunk(f"doc{d}#{c}", f"doc{d}", c, 0, 10,
              f"{words[d % 10]} {words[(d + c) % 10]} rose in quarter {c} of year {2000 + d} for unit {d * 7 + c}")
        for d in range(n_docs) for c in range(per_doc)
    ]  # fmt: skip
    pairs = [
        Pair(f"{words[d % 10]} in year {2000 + d}", pool[d * per_doc].text, (), f"doc{d}", PairKind.SHORT_LONG,
             Generator.ICT, key=f"k{d}", chunk_id=f"doc{d}#0")
        for d in range(n_docs)
    ]  # fmt: skip
    q = student.encode([p.query for p in pairs])
    return pairs, q, pool, student.encode([c.text for c in pool]), student


@pytest.mark.parametrize("hybrid", [False, True], ids=["bi-encoder", "hybrid"])
def test_a_teacher_with_consistency_off_embeds_only_the_positives_and_drawn_candidates(
    hybrid, tiny_model, tmp_path, monkeypatch
):
    pairs, q, pool, pool_emb, student = _text_pool_and_pairs()
    folder = str(tiny_model())  # built (and its test sentences encoded) before the count starts
    counting = _Counting(monkeypatch)
    config = _config(consistency_top_k=0, negatives=1, mine_ranks=(0, 30), teacher_guard=0.0)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        teacher = load_teacher(f"hybrid:{folder}" if hybrid else folder, cache)
        result = rank_and_mine(pairs, q, pool, pool_emb, student, config, teacher)
    assert result.search["teacher"] == "pairs"
    queries, positives = {p.query for p in pairs}, {p.positive for p in pairs}
    passages = set(counting.texts) - queries
    assert queries <= set(counting.texts) and positives <= passages
    negatives = {n for p in result.pairs for n in p.negatives}
    assert negatives and negatives <= passages
    drawn = len(pairs) * GUARD_OVERSAMPLE * config.negatives  # at most this many candidates were drawn
    assert len(passages - positives) <= drawn < len(pool) - len(positives)  # never the whole pool
    assert len(counting.texts) == len(set(counting.texts)) == teacher.forward_texts  # each text once


@pytest.mark.parametrize("hybrid", [False, True], ids=["bi-encoder", "hybrid"])
def test_a_teacher_in_rerank_mode_embeds_only_the_positives_and_the_students_top_chunks(
    hybrid, tiny_model, tmp_path, monkeypatch
):
    pairs, q, pool, pool_emb, student = _text_pool_and_pairs()
    depth = 4
    config = _config(consistency_top_k=3, negatives=0, rerank_depth=depth, teacher_ranking=TeacherRanking.RERANK)
    folder = str(tiny_model())
    counting = _Counting(monkeypatch)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        teacher = load_teacher(f"hybrid:{folder}" if hybrid else folder, cache)
        result = rank_and_mine(pairs, q, pool, pool_emb, student, config, teacher)
    assert result.search["teacher"] == "rerank" and result.search["rerank_depth"] == depth
    if not hybrid:  # (the hybrid's BM25 finds every query's year: it keeps all)
        assert 0 < len(result.pairs) < len(pairs)  # the teacher's consistency kept some and dropped some
    codes = {c.text: c.doc_id for c in pool}
    allowed = {p.query for p in pairs} | {p.positive for p in pairs}
    scores = q @ pool_emb.T  # the student's own ranking: each query's top `depth` other-document chunks
    for row, pair in enumerate(pairs):
        order = [j for j in np.argsort(-scores[row], kind="stable") if codes[pool[j].text] != pair.doc_id]
        allowed |= {pool[j].text for j in order[:depth]}
    assert set(counting.texts) <= allowed
    assert len(set(counting.texts) - {p.query for p in pairs}) <= len(pairs) * (1 + depth) < len(pool)


def test_auto_ranking_reranks_when_the_index_is_used():
    """The default ``teacher_ranking: auto``: a pool teacher ranks the pool with the exact search and reranks
    through the index, and a pair the student ranks low but the teacher ranks high is kept either way."""
    pairs, q, pool, emb = _pool_and_pairs(docs=40)
    vectors = {c.text: v for c, v in zip(pool, emb)} | {p.query: v for p, v in zip(pairs, q)}
    low = pairs[0]
    vectors[low.query] = vectors[low.positive]  # the teacher ranks pair 0's positive first
    student_q = q.copy()
    student_q[0] = -emb[0]  # the student ranks it last
    config = _config(negatives=0, consistency_top_k=5, rerank_depth=20)
    assert low.key not in {p.key for p in rank_and_mine(pairs, student_q, pool, emb, HashEmbedder(), config).pairs}
    for threshold, mode in ((0, "pool"), (1, "rerank")):
        teacher = DotTeacher(vectors)
        cfg = _config(negatives=0, consistency_top_k=5, rerank_depth=20, ann_threshold=threshold)
        result = rank_and_mine(pairs, student_q, pool, emb, HashEmbedder(), cfg, teacher,
                               pool_search(emb, threshold, cfg.seed))  # fmt: skip
        assert result.search["teacher"] == mode and (teacher.pool_calls > 0) == (mode == "pool")
        assert low.key in {p.key for p in result.pairs}
        expected = SearchKind.IVF_FLAT if threshold else SearchKind.EXACT
        assert result.search["student"]["kind"] == expected


@pytest.mark.parametrize("value", ["-1", "-100000"])
def test_a_negative_ann_threshold_is_one_line_and_exit_2(tmp_path, value):
    from domainemb.cli.main import app

    bench = retrieval_benchmark(tmp_path / "bench", ["an unrelated test document"], ["what is it"])
    out = tmp_path / "run" / "p.jsonl"
    args = ["synth", "--domain", "finance", "--corpus", str(write_corpus(tmp_path / "corpus", docs=2)),
            "--out", str(out), "--benchmark", str(bench), "--generator", "ict", "--ann-threshold", value]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"error: --ann-threshold must be at least 0 (0: always exact), got {value}"
    assert not out.parent.exists()  # nothing written
