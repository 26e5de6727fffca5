"""synth's teacher: it, not the student, decides ranking consistency, guards mined negatives and labels margins.

Fakes at the :class:`~domainemb.synth.teacher.Teacher` seam give exact control; the real seam is
tested with a tiny cross-encoder and a tiny bi-encoder built here (random weights, a second to load).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from synth_data import HashEmbedder, save_tiny_cross_encoder, write_corpus

from domainemb.errors import DomainembError
from domainemb.pairs import Pair, read_pairs
from domainemb.synth.config import Generator, PairKind, SynthConfig
from domainemb.synth.corpus import Chunk
from domainemb.synth.decontam import HeldOut
from domainemb.synth.postprocess import rank_and_mine
from domainemb.synth.teacher import (
    BiEncoderTeacher,
    CrossEncoderTeacher,
    HybridTeacher,
    Teacher,
    TeacherKind,
    folder_kind,
    load_teacher,
    min_max_rows,
)

DIM = 30


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory) -> Path:
    """A random 2-layer BertForSequenceClassification with one label and MiniLM's tokenizer: the layout
    of the hub's ``cross-encoder/*`` models (a plain transformers folder)."""
    return save_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder") / "model", seed=0)


def _pair(key, query, positive, doc):
    return Pair(query, positive, (), doc, PairKind.SHORT_LONG, Generator.ICT, key=key, chunk_id=f"{doc}#0")


def _pool(n=DIM):
    return [Chunk(f"doc{i}#0", f"doc{i}", 0, 0, 10, f"passage number {i} about topic {i % 3}") for i in range(n)]


def _config(**kw) -> SynthConfig:
    values = dict(domain="finance", corpus=".", out="x.jsonl", negatives=0, consistency_top_k=5, teacher="none")
    return SynthConfig(**{**values, **kw})


class FakeTeacher(Teacher):
    """Scores from a table: ``scores[passage]`` for every query (0 for a passage not in it)."""

    kind = TeacherKind.BI_ENCODER
    fingerprint = "fake"

    def __init__(self, scores: dict[str, float], ranks_pool: bool = True) -> None:
        super().__init__()
        self.name, self.table, self.ranks_pool = "fake", scores, ranks_pool
        self.pairs_scored: list[tuple[str, str]] = []

    def score_pool(self, queries, pool):
        assert self.ranks_pool
        return np.array([[self.table.get(p, 0.0) for p in pool] for _ in queries], dtype=np.float32)

    def score_pairs(self, queries, passages):
        self.pairs_scored += list(zip(queries, passages))
        return np.array([self.table.get(p, 0.0) for p in passages], dtype=np.float32)


def _student_ranks_positive_low():
    """One pair whose positive (doc0) the student ranks 20th of the other documents' chunks."""
    pool = _pool()
    pool_emb = np.eye(DIM, dtype=np.float32)  # (pool, dim)
    q = np.zeros((1, DIM), dtype=np.float32)
    q[0, 0] = 0.1
    q[0, 1:21] = np.linspace(1.0, 0.5, 20)  # docs 1..20 all above the positive
    pairs = [_pair("a", "q", pool[0].text, "doc0")]
    return pairs, q, pool, pool_emb


@pytest.mark.parametrize("ranks_pool", [True, False], ids=["pool-teacher", "reranking-teacher"])
def test_the_teacher_not_the_student_decides_consistency(ranks_pool):
    pairs, q, pool, pool_emb = _student_ranks_positive_low()
    config = _config(rerank_depth=25)
    assert rank_and_mine(pairs, q, pool, pool_emb, HashEmbedder(), config).pairs == []  # the student drops it
    teacher = FakeTeacher({pool[0].text: 1.0}, ranks_pool=ranks_pool)  # the teacher ranks the positive first
    kept = rank_and_mine(pairs, q, pool, pool_emb, HashEmbedder(), config, teacher)
    assert [p.key for p in kept.pairs] == ["a"] and kept.dropped == 0
    # and the other way round: the student ranks it first, the teacher puts 5 other chunks above it
    good_q = np.zeros((1, DIM), dtype=np.float32)
    good_q[0, 0] = 1.0
    assert rank_and_mine(pairs, good_q, pool, pool_emb, HashEmbedder(), config).pairs == pairs
    teacher = FakeTeacher({**{pool[j].text: 2.0 for j in range(1, 6)}, pool[0].text: 1.0}, ranks_pool=ranks_pool)
    if not ranks_pool:  # a reranking teacher sees only the student's top chunks: put those five among them
        good_q[0, 1:6] = 0.5
    dropped = rank_and_mine(pairs, good_q, pool, pool_emb, HashEmbedder(), config, teacher)
    assert dropped.pairs == [] and dropped.dropped == 1


def test_a_cross_encoder_reranks_only_the_students_top_chunks_and_the_positive():
    pairs, q, pool, pool_emb = _student_ranks_positive_low()
    teacher = FakeTeacher({pool[0].text: 1.0}, ranks_pool=False)
    rank_and_mine(pairs, q, pool, pool_emb, HashEmbedder(), _config(rerank_depth=7), teacher)
    scored = {p for _, p in teacher.pairs_scored}
    assert scored == {pool[0].text, *(pool[j].text for j in range(1, 8))}  # depth 7 (>= top-k 5) plus the positive


@pytest.mark.parametrize("ranks_pool", [True, False], ids=["pool-teacher", "reranking-teacher"])
def test_the_guard_drops_exactly_the_negatives_within_the_margin(ranks_pool):
    pool = _pool()
    pool_emb = np.eye(DIM, dtype=np.float32)
    q = np.zeros((1, DIM), dtype=np.float32)
    q[0, 0] = 1.0
    q[0, 1:] = np.linspace(0.9, 0.1, DIM - 1)
    pairs = [_pair("a", "q", pool[0].text, "doc0")]
    # the positive scores 1.0; with a 5% relative margin a negative must score at most 0.95
    scores = {pool[0].text: 1.0, pool[1].text: 0.99, pool[2].text: 0.951, pool[3].text: 0.95, pool[4].text: 0.3}
    scores.update({pool[j].text: 0.2 - 0.001 * j for j in range(5, DIM)})
    config = _config(consistency_top_k=0, negatives=30, mine_ranks=(0, 10), teacher_guard=0.05)
    result = rank_and_mine(pairs, q, pool, pool_emb, HashEmbedder(), config, FakeTeacher(scores, ranks_pool))
    (pair,) = result.pairs
    window = {pool[j].text for j in range(1, 11)}  # the student's ranks 0..10 of the other documents
    assert set(pair.negatives) == window - {pool[1].text, pool[2].text}
    assert result.guarded == 2
    assert pair.negatives[0] == pool[3].text  # hardest first; 0.95 is not above the threshold, so it stays
    assert pair.margins == pytest.approx([1.0 - scores[t] for t in pair.negatives])
    # the student's own margin (mine_margin) no longer applies with a teacher
    tight = dataclasses.replace(config, mine_margin=0.01)
    assert rank_and_mine(pairs, q, pool, pool_emb, HashEmbedder(), tight, FakeTeacher(scores, ranks_pool)).pairs == [
        pair
    ]


def test_the_guard_margin_is_relative_to_the_positives_magnitude_whatever_its_sign():
    pool = _pool()
    pool_emb = np.eye(DIM, dtype=np.float32)
    q = np.zeros((1, DIM), dtype=np.float32)
    q[0, :] = np.linspace(1.0, 0.1, DIM)
    pairs = [_pair("a", "q", pool[0].text, "doc0")]
    logits = {pool[0].text: -2.0, pool[1].text: -2.05, pool[2].text: -2.11, pool[3].text: -1.0}  # threshold -2.1
    logits.update({pool[j].text: -9.0 for j in range(4, DIM)})
    config = _config(consistency_top_k=0, negatives=5, mine_ranks=(0, 5), teacher_guard=0.05)
    result = rank_and_mine(pairs, q, pool, pool_emb, HashEmbedder(), config, FakeTeacher(logits, ranks_pool=False))
    assert set(result.pairs[0].negatives) == {pool[2].text, pool[4].text, pool[5].text} and result.guarded == 2


@pytest.mark.parametrize(
    ("sources", "expected"),
    [(("student", "bm25"), {1, 2, 3, 7, 8}), (("student",), {1, 2, 3}), (("bm25",), {7, 8})],
)
def test_negatives_come_from_the_student_and_from_bm25(sources, expected):
    """As GPL: each retriever's rank window offers candidates; BM25 only chunks sharing a term with the query."""
    pool = [
        Chunk(f"doc{i}#0", f"doc{i}", 0, 0, 10, f"passage {i} on {'zymogen activation' if i in (0, 7, 8) else 'rates'}")
        for i in range(10)
    ]
    pool_emb = np.eye(10, dtype=np.float32)
    q = np.array([[1.0, *np.linspace(0.9, 0.1, 9)]], dtype=np.float32)  # the student: doc1, doc2, ... doc9
    pairs = [_pair("a", "zymogen", pool[0].text, "doc0")]
    config = _config(consistency_top_k=0, negatives=10, mine_ranks=(0, 3), negatives_from=sources)
    result = rank_and_mine(pairs, q, pool, pool_emb, HashEmbedder(), config, FakeTeacher({pool[0].text: 1.0}))
    assert set(result.pairs[0].negatives) == {pool[j].text for j in expected} and result.guarded == 0


def test_min_max_rows():
    rows = min_max_rows(np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]]))
    assert rows.tolist() == [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]]


# --------------------------------------------------------------------------- telling models apart


def test_folder_kind_tells_bi_encoders_from_cross_encoders(tiny_model, tiny_cross_encoder, tmp_path):
    from sentence_transformers import CrossEncoder
    from transformers import AutoConfig, AutoModel

    assert folder_kind(tiny_model()) is TeacherKind.BI_ENCODER
    assert folder_kind(tiny_cross_encoder) is TeacherKind.CROSS_ENCODER  # a plain transformers folder
    saved = tmp_path / "st-cross-encoder"
    CrossEncoder(str(tiny_cross_encoder)).save(str(saved))  # sentence-transformers 6 writes modules.json too
    assert (saved / "modules.json").is_file() and folder_kind(saved) is TeacherKind.CROSS_ENCODER
    plain = tmp_path / "bert"  # a transformers encoder with no head and no pooling: neither
    AutoModel.from_config(AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                               intermediate_size=64)).save_pretrained(plain)  # fmt: skip
    assert folder_kind(plain) is None and folder_kind(tmp_path / "missing") is None
    with pytest.raises(DomainembError, match=f"--teacher {plain}: neither a sentence-transformers bi-encoder"):
        load_teacher(str(plain))


def test_teacher_values(tiny_model, tiny_cross_encoder, tmp_path):
    assert load_teacher("none") is None and load_teacher(" None ") is None
    hybrid = load_teacher("hybrid:mpnet@0.3")  # nothing loads until it scores
    assert isinstance(hybrid, HybridTeacher) and hybrid.bm25_weight == 0.3 and hybrid.dense.name == "mpnet"
    assert load_teacher(f"hybrid:{tiny_model()}").bm25_weight == 0.5
    assert isinstance(load_teacher("mpnet"), BiEncoderTeacher)
    assert isinstance(load_teacher(str(tiny_cross_encoder)), CrossEncoderTeacher)
    for bad, message in [
        ("hybrid:mpnet@2", "BM25 weight must be in"),
        (f"hybrid:{tiny_cross_encoder}", "is not a sentence-transformers bi-encoder"),
        ("hybrid:", "name the dense model"),
        ("bm25", "--teacher bm25: neither"),
        ("mpnett", "did you mean mpnet"),
        ("no-such-org/no-such-model", "cannot load 'no-such-org/no-such-model' from the Hugging Face hub"),
    ]:
        with pytest.raises(DomainembError, match=message):
            load_teacher(bad)
    two_labels = tmp_path / "nli"
    shutil.copytree(tiny_cross_encoder, two_labels)
    config = json.loads((two_labels / "config.json").read_text())
    config.update(id2label={"0": "a", "1": "b"}, label2id={"a": 0, "b": 1})
    (two_labels / "config.json").write_text(json.dumps(config))
    with pytest.raises(DomainembError, match="2 labels; a teacher needs one score"):
        load_teacher(str(two_labels))


def test_synth_with_a_teacher_that_is_neither_kind_exits_2_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from domainemb.cli.main import app

    neither = tmp_path / "not-a-model"
    neither.mkdir()
    (neither / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    out = tmp_path / "run" / "pairs.jsonl"
    args = ["synth", "--domain", "finance", "--corpus", str(write_corpus(tmp_path / "corpus", docs=2))]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--generator", "ict", "--teacher", str(neither)])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert lines == [f"error: --teacher {neither}: neither a sentence-transformers bi-encoder nor a cross-encoder"]
    assert not out.parent.exists()  # nothing generated, nothing written


# --------------------------------------------------------------------------- the real seam


@functools.cache
def _cross_encoder(folder: Path):
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(folder), local_files_only=True)


def _direct_cross_encoder_scores(folder: Path, pairs: list[tuple[str, str]]) -> np.ndarray:
    import torch

    model = _cross_encoder(folder)
    return np.asarray(model.predict(pairs, activation_fn=torch.nn.Identity(), show_progress_bar=False))


def _texts_pool(n=24):
    topics = ["interest rates", "bond yields", "equity dividends", "credit spreads", "cash flow", "tax credits"]
    return [
        Chunk(f"doc{i}#0", f"doc{i}", 0, 0, 12, f"the report on {topics[i % 6]} in quarter {i} shows item {i * 7}")
        for i in range(n)
    ]


def test_a_real_cross_encoder_decides_consistency_and_its_logits_are_the_margins(tiny_cross_encoder, tmp_path):
    from domainemb.evaluation.cache import EmbeddingCache

    pool = _texts_pool(12)
    student = HashEmbedder()
    pool_emb = student.encode([c.text for c in pool])
    n = len(pool)
    # even queries share words with their own passage; odd ones only with three others (the student ranks them low)
    queries = [
        f"what about {c.text.split()[3]} item {i * 7}"
        if i % 2 == 0
        else " ".join(str((i + k) % n * 7) for k in (1, 2, 3))
        for i, c in enumerate(pool)
    ]
    pairs = [_pair(f"k{i}", query, c.text, c.doc_id) for i, (query, c) in enumerate(zip(queries, pool))]
    query_emb = student.encode([p.query for p in pairs])
    config = _config(consistency_top_k=3, rerank_depth=5, negatives=2, mine_ranks=(0, 8), teacher_guard=0.0)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        teacher = CrossEncoderTeacher("tiny", tiny_cross_encoder, cache)
        result = rank_and_mine(pairs, query_emb, pool, pool_emb, student, config, teacher)
    # recompute the decision with the model itself: the positive's rank among the student's top 5
    kept_by_teacher, kept_by_student = set(), set()
    for row, pair in enumerate(pairs):
        s = pool_emb @ query_emb[row]
        s[[c.doc_id == pair.doc_id for c in pool]] = -np.inf
        top = [pool[j].text for j in np.argsort(-s, kind="stable")[:5]]
        logits = _direct_cross_encoder_scores(tiny_cross_encoder, [(pair.query, t) for t in [pair.positive, *top]])
        if int((logits[1:] > logits[0]).sum()) < 3:
            kept_by_teacher.add(pair.key)
        if int((s > float(pool_emb[row] @ query_emb[row])).sum()) < 3:
            kept_by_student.add(pair.key)
    assert {p.key for p in result.pairs} == kept_by_teacher
    assert kept_by_teacher - kept_by_student  # pairs the student would have dropped, kept by the teacher
    labelled = [p for p in result.pairs if p.margins]
    assert labelled
    for pair in labelled:
        logits = _direct_cross_encoder_scores(
            tiny_cross_encoder, [(pair.query, pair.positive)] + [(pair.query, n) for n in pair.negatives]
        )
        assert pair.margins == pytest.approx((logits[0] - logits[1:]).tolist(), abs=1e-4)
        assert all(m >= 0 for m in pair.margins)  # guard 0: no negative above its positive


def test_a_real_bi_encoder_teachers_margins_are_its_similarities(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    from domainemb.evaluation.cache import EmbeddingCache

    folder = tiny_model()
    pool = _texts_pool()
    student = HashEmbedder()
    pairs = [_pair(f"k{i}", f"{c.text.split()[3]} in quarter {i}", c.text, c.doc_id) for i, c in enumerate(pool)]
    config = _config(consistency_top_k=0, negatives=2, mine_ranks=(0, 12), teacher_guard=0.0)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        teacher = load_teacher(str(folder), cache)
        result = rank_and_mine(
            pairs, student.encode([p.query for p in pairs]), pool, student.encode([c.text for c in pool]), student,
            config, teacher,
        )  # fmt: skip
    model = SentenceTransformer(str(folder), device="cpu")
    labelled = [p for p in result.pairs if p.margins]
    assert labelled
    for pair in labelled:
        q = model.encode([pair.query])
        sims = model.similarity(q, model.encode([pair.positive, *pair.negatives])).numpy()[0]
        assert pair.margins == pytest.approx((sims[0] - sims[1:]).tolist(), abs=1e-5)


def test_the_hybrid_teacher_combines_min_max_normalised_bm25_and_dense(tiny_model, tmp_path):
    import bm25s
    import Stemmer
    from sentence_transformers import SentenceTransformer

    from domainemb.evaluation.cache import EmbeddingCache

    folder = tiny_model()
    pool = [c.text for c in _texts_pool(8)] + ["a note on the zymogen oxazolidinone assay"]
    queries = ["oxazolidinone assay", "bond yields in quarter 1"]
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        teacher = load_teacher(f"hybrid:{folder}@0.7", cache)
        scores = teacher.score_pool(queries, pool)  # (2, 9)
    stem = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(pool, stopwords="en", stemmer=stem, return_ids=False, show_progress=False))
    tokens = bm25s.tokenize(queries, stopwords="en", stemmer=stem, return_ids=False, show_progress=False)
    lexical = np.stack([retriever.get_scores(t) for t in tokens])
    model = SentenceTransformer(str(folder), device="cpu")
    dense = model.similarity(model.encode(queries), model.encode(pool)).numpy()
    expected = 0.7 * min_max_rows(lexical) + 0.3 * min_max_rows(dense)
    assert scores == pytest.approx(expected, abs=1e-5)
    assert int(np.argmax(scores[0])) == len(pool) - 1  # the exact rare terms decide, as BM25 has them


def _synth_config(tmp_path, teacher: str) -> SynthConfig:
    return SynthConfig(
        domain="finance", corpus=write_corpus(tmp_path / "corpus", docs=3), out=tmp_path / "run" / "pairs.jsonl",
        generator=Generator.ICT, chunk_tokens=40, negatives=2, mine_ranks=(0, 20), consistency_top_k=5,
        rerank_depth=5, teacher=teacher, teacher_guard=0.0,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["cross-encoder", "bi-encoder"])
def test_synth_with_a_teacher_writes_margins_and_a_rerun_computes_nothing_again(
    kind, tiny_model, tiny_cross_encoder, tmp_path, monkeypatch
):
    """End to end through ``synthesize``: the card records the teacher, the pairs carry its margins, and a
    rerun (a new process's teacher: a new object on the same cache) runs no teacher forward pass."""
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from domainemb.synth.pipeline import synthesize

    monkeypatch.setenv("DOMAINEMB_CACHE", str(tmp_path / "cache"))
    folder = tiny_cross_encoder if kind == "cross-encoder" else tiny_model()
    forward = {"n": 0}
    cls, method = (CrossEncoder, "predict") if kind == "cross-encoder" else (SentenceTransformer, "encode")
    real = getattr(cls, method)

    def counting(self, inputs, *args, **kwargs):
        forward["n"] += len(inputs)
        return real(self, inputs, *args, **kwargs)

    monkeypatch.setattr(cls, method, counting)
    config = _synth_config(tmp_path, str(folder))
    first = synthesize(config, embedder=HashEmbedder(), held_out=HeldOut.from_texts([]))
    assert forward["n"] > 0
    card = json.loads(first.card_path.read_text())
    assert card["teacher"]["kind"] == kind and card["teacher"]["name"] == str(folder)
    assert card["teacher"]["fingerprint"] == load_teacher(str(folder)).fingerprint
    assert card["drops"]["teacher-guard"] == card["teacher"]["guard_dropped"]
    pairs = read_pairs(config.out, strict=True).pairs
    assert card["teacher"]["labelled_pairs"] == sum(1 for p in pairs if p.margins) > 0
    assert all(len(p.margins) == len(p.negatives) for p in pairs)
    forward["n"] = 0
    second = synthesize(config, embedder=HashEmbedder(), held_out=HeldOut.from_texts([]))
    assert forward["n"] == 0  # every teacher embedding or score came from the cache
    assert read_pairs(second.out, strict=True).pairs == pairs
