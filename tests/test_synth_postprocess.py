"""Decontamination, deduplication, ranking consistency and hard-negative mining."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from synth_data import HashEmbedder, retrieval_benchmark

from domainemb.pairs import Pair
from domainemb.synth.config import Generator, PairKind, SynthConfig
from domainemb.synth.corpus import Chunk
from domainemb.synth.decontam import HeldOut, NgramIndex, find_benchmarks, load_held_out
from domainemb.synth.postprocess import (
    decontaminate,
    dedupe_exact,
    dedupe_near,
    rank_and_mine,
)
from domainemb.synth.text import ngram_hashes, words

TEST_DOC = "the central bank raised its policy rate by fifty basis points to fight persistent inflation in the euro area this spring"


def _pair(key, query, positive, doc="d0", kind=PairKind.SHORT_LONG, negatives=()):
    provenance = {"key": key, "chunk_id": f"{doc}#0", "llm_model": "m", "template_hash": "h"}
    return Pair(query, positive, tuple(negatives), doc, kind, Generator.LLM, **provenance)


def test_ngram_index_matches_a_brute_force_reference():
    texts = ["alpha beta gamma delta epsilon zeta eta", "one two three four five six", "x y"]
    index = NgramIndex.build(texts, n=4)
    reference = {tuple(words(t)[i : i + 4]) for t in texts for i in range(len(words(t)) - 3)}
    probes = [
        "Alpha, beta; gamma DELTA!",
        "beta gamma delta omega",
        "three four five six seven",
        "x y",
        "",
        "two three four",
    ]
    for probe in probes:
        tokens = words(probe)
        expected = any(tuple(tokens[i : i + 4]) in reference for i in range(len(tokens) - 3))
        assert index.overlaps(probe) == expected, probe
    assert len(index) == len(reference)
    assert ngram_hashes("a b c", 4).size == 0


def test_decontamination_drops_13_gram_overlap_and_exact_short_texts():
    side = HeldOut.from_texts([TEST_DOC, "Is inflation falling?"], n=13)
    copied = "Recently " + " ".join(TEST_DOC.split()[2:15]) + " said analysts"  # 13 consecutive test words
    near = "Recently " + " ".join(TEST_DOC.split()[2:14]) + " said analysts"  # only 12
    pairs = [
        _pair("a", "a fresh question", copied),
        _pair("b", "a fresh question two", near),
        _pair("c", "is INFLATION falling", "unrelated passage"),
        _pair("d", "another question", "passage", negatives=[TEST_DOC]),
    ]
    result = decontaminate(pairs, side)
    assert [p.key for p in result.pairs] == ["b"] and result.dropped == 3


def test_exact_and_near_duplicates():
    pairs = [
        _pair("a", "What is EBITDA?", "p1"),
        _pair("b", "what is ebitda", "p2"),
        _pair("c", "net debt ratio", "p3"),
    ]
    step = dedupe_exact(pairs)
    assert [p.key for p in step.pairs] == ["a", "c"] and step.dropped == 1
    emb = np.array([[1, 0], [0.999, 0.0447], [0, 1], [0.6, 0.8]], dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    four = [_pair(k, f"q{k}", "p") for k in "wxyz"]
    near, kept_emb = dedupe_near(four, emb, threshold=0.95)
    assert [p.key for p in near.pairs] == ["w", "y", "z"] and near.dropped == 1 and kept_emb.shape == (3, 2)
    # a chain a~b~c keeps c when b was dropped and c is far enough from a
    chain = np.array([[1, 0], [0.97, 0.243], [0.88, 0.475]], dtype=np.float32)
    chain /= np.linalg.norm(chain, axis=1, keepdims=True)
    near, _ = dedupe_near([_pair(k, k, "p") for k in "abc"], chain, 0.96)
    assert [p.key for p in near.pairs] == ["a", "c"]


def _pool(n_docs=30):
    return [Chunk(f"doc{i}#0", f"doc{i}", 0, 0, 10, f"passage number {i} about topic {i % 3}") for i in range(n_docs)]


def test_ranking_consistency_and_mining_window_margin_and_same_document():
    pool = _pool(30)
    dim = 30
    pool_emb = np.eye(dim, dtype=np.float32)
    # query 0 is closest to its own positive (doc0); others decay with index distance
    q = np.array([[1.0] + [0.9 - 0.02 * j for j in range(1, dim)]], dtype=np.float32)
    q /= np.linalg.norm(q)
    pairs = [_pair("a", "q", pool[0].text, doc="doc0")]
    config = SynthConfig(
        domain="finance",
        corpus=".",
        out="x.jsonl",
        negatives=3,
        mine_ranks=(2, 8),
        consistency_top_k=5,
        mine_margin=1.0,
    )
    result = rank_and_mine(pairs, q, pool, pool_emb, HashEmbedder(), config)
    (pair,) = result.pairs
    other = [p.text for p in pool[1:]]  # ranked doc1, doc2, ... by construction
    assert set(pair.negatives) <= set(other[2:8]) and len(pair.negatives) == 3
    # the margin removes candidates scoring above margin * positive: here all of ranks 2..8
    tight = dataclasses.replace(config, mine_margin=0.5)
    assert rank_and_mine(pairs, q, pool, pool_emb, HashEmbedder(), tight).pairs[0].negatives == ()
    # a positive that ranks below top-k for its own query is dropped
    bad_q = np.zeros((1, dim), dtype=np.float32)
    bad_q[0, 10:20] = 1.0
    dropped = rank_and_mine(pairs, bad_q / np.linalg.norm(bad_q), pool, pool_emb, HashEmbedder(), config)
    assert dropped.pairs == [] and dropped.dropped == 1
    # chunks of the positive's own document are never negatives
    same_doc = [dataclasses.replace(c, doc_id="doc0") for c in pool[:5]] + pool[5:]
    mined = rank_and_mine(
        pairs, q, same_doc, pool_emb, HashEmbedder(), dataclasses.replace(config, mine_ranks=(0, 30), negatives=25)
    )
    assert not {p.text for p in same_doc[:5]} & set(mined.pairs[0].negatives)


def test_other_kinds_pass_through_mining():
    pool = _pool(5)
    sts = _pair("s", "a sentence", "a paraphrase", kind=PairKind.STS, negatives=["a contrast"])
    config = SynthConfig(domain="finance", corpus=".", out="x.jsonl")
    emb = HashEmbedder()
    result = rank_and_mine([sts], emb.encode([sts.query]), pool, emb.encode([c.text for c in pool]), emb, config)
    assert result.pairs == [sts]


def test_held_out_from_built_benchmarks(tmp_path, monkeypatch):
    bench = retrieval_benchmark(
        tmp_path / "work" / "benchmarks" / "finance-test",
        [TEST_DOC, "another test document here"],
        ["is inflation falling?"],
    )
    monkeypatch.chdir(tmp_path)
    assert find_benchmarks("finance") == [bench.relative_to(tmp_path)]
    assert find_benchmarks("medicine") == []
    side = load_held_out("finance", [bench])
    assert side.touches(TEST_DOC) and side.touches("Is inflation falling") and not side.touches("unrelated words")
    assert side.sources == [str(bench)] and side.test_doc_ids == set()


@pytest.mark.slow
def test_minilm_embedder_ranks_the_right_passage():
    """The real seam: the packaged MiniLM through sentence-transformers."""
    from domainemb.synth.postprocess import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    passages = [
        "The central bank raised interest rates to curb inflation.",
        "The enzyme catalyses ester hydrolysis.",
        "Tumours shrank after chemotherapy.",
    ]
    vecs = emb.encode(passages + ["why did the fed hike rates"])
    assert vecs.shape == (4, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
    assert int(np.argmax(vecs[:3] @ vecs[3])) == 0


def test_pool_embeddings_are_cached_beside_the_output(tmp_path):
    from synth_data import write_corpus

    from domainemb.synth.pipeline import synthesize

    corpus = write_corpus(tmp_path / "corpus", docs=3)
    config = SynthConfig(
        domain="finance",
        corpus=corpus,
        out=tmp_path / "run" / "pairs.jsonl",
        generator=Generator.ICT,
        chunk_tokens=40,
        teacher="none",  # the student's pool cache is under test (the teacher's: tests/test_synth_teacher.py)
    )
    first, second = HashEmbedder(), HashEmbedder()
    a = synthesize(config, embedder=first, held_out=HeldOut.from_texts([]))
    b = synthesize(config, embedder=second, held_out=HeldOut.from_texts([]))
    assert (tmp_path / "run" / "pairs.pool.npz").is_file()
    assert second.calls == first.calls - 1  # the pool was not encoded again
    assert a.card.counts == b.card.counts
