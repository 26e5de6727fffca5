"""Pairs reading, the document split, the trainer's datasets, bootstrap intervals, comparison and card (no training)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from adapt_data import SYNTH_CARD, pair_rows, write_pairs

from domainemb.adapt.bootstrap import bootstrap_mean
from domainemb.adapt.card import END, START, render_section, write_card
from domainemb.adapt.compare import Comparison, ModelRef, build_comparison, compare_suite
from domainemb.adapt.data import IN_BATCH_ONLY, WITH_NEGATIVES, dev_evaluator, train_datasets
from domainemb.adapt.split import split_by_document
from domainemb.errors import DataError, DomainembError
from domainemb.pairs import read_pairs
from domainemb.synth_card import SynthCard


# ----------------------------------------------------------------------------- pairs
def test_read_pairs_keeps_order_and_drops_exact_repeats(tmp_path):
    rows = pair_rows(n_docs=3, per_doc=2)
    path = write_pairs(tmp_path / "pairs.jsonl", rows + [rows[0]], card=SYNTH_CARD)
    pairs = read_pairs(path)
    assert [p.query for p in pairs.pairs] == [r["query"] for r in rows]
    assert pairs.duplicates == 1
    assert pairs.card == SynthCard.from_dict(SYNTH_CARD)
    assert pairs.pairs[0].negatives == tuple(rows[0]["negatives"])
    assert pairs.pairs[0].doc_id == "doc-0" and pairs.pairs[0].generator == "ict"
    assert len(pairs.sha256) == 64


def test_unescaped_unicode_line_separators_inside_strings(tmp_path):
    """Other tools write U+2028 / U+0085 raw inside JSON strings (ensure_ascii=False); they are not line breaks."""
    rows = pair_rows(n_docs=2, per_doc=1)
    rows[0]["positive"] = "first\u2028second\x85third"
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in rows), encoding="utf-8")
    pairs = read_pairs(path)
    assert [p.positive for p in pairs.pairs] == [r["positive"] for r in rows]


def test_negatives_may_be_absent_or_empty(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"query": "q", "positive": "p", "doc_id": "d"}) + "\n\n", encoding="utf-8")
    (pair,) = read_pairs(path).pairs
    assert pair.negatives == ()
    assert read_pairs(path).card is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"positive": "p", "doc_id": "d", "negatives": []}, "line 2: missing field 'query'"),
        ({"query": "q", "doc_id": "d", "negatives": []}, "line 2: missing field 'positive'"),
        ({"query": "q", "positive": "p", "negatives": []}, "line 2: missing field 'doc_id'"),
        ({"query": "  ", "positive": "p", "doc_id": "d"}, "field 'query' must be a non-empty string"),
        ({"query": "q", "positive": 3, "doc_id": "d"}, "field 'positive' must be a non-empty string"),
        ({"query": "q", "positive": "p", "doc_id": "d", "negatives": "n"}, "'negatives' must be a list"),
        ({"query": "q", "positive": "p", "doc_id": "d", "negatives": [""]}, "'negatives' must be a list"),
        ([1, 2], "line 2: not a JSON object"),
        ("{not json", "line 2: invalid JSON"),
    ],
)
def test_a_bad_line_names_file_and_line(tmp_path, line, problem):
    good = json.dumps({"query": "q", "positive": "p", "doc_id": "d", "negatives": []})
    path = tmp_path / "pairs.jsonl"
    path.write_text(good + "\n" + (line if isinstance(line, str) else json.dumps(line)) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_pairs(path)
    assert str(path) in str(err.value) and problem in str(err.value)


@pytest.mark.parametrize("content", [b"", b"\n  \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match="no pairs"):
        read_pairs(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_pairs(tmp_path / "absent.jsonl")
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(DataError, match="not UTF-8"):
        read_pairs(path)


def test_only_the_card_named_after_the_pairs_file_is_read(tmp_path):
    named, other = {**SYNTH_CARD, "wall_time_s": 1.0}, {**SYNTH_CARD, "wall_time_s": 2.0}  # "which" card
    path = write_pairs(tmp_path / "fin.jsonl", card=named)
    (tmp_path / "card.json").write_text(json.dumps(other), encoding="utf-8")
    (tmp_path / "crop.card.json").write_text(json.dumps(other), encoding="utf-8")
    assert read_pairs(path).card == SynthCard.from_dict(named)
    assert read_pairs(write_pairs(tmp_path / "other.jsonl")).card is None


def test_reads_what_synth_writes(tmp_path):
    """The shared contract: a file from synth's own writer trains as it is."""
    from domainemb.pairs import Generator, Pair, PairKind
    from domainemb.pairs import write_pairs as synth_write
    from domainemb.synth.pairs import pair_key

    written = [
        Pair(
            key=pair_key(Generator.ICT, None, PairKind.SHORT_LONG, f"doc{i}", 0, 10, None, 0),
            query=f"query {i}",
            positive=f"passage {i}",
            negatives=(f"other {i}",) if i % 2 else (),
            persona=None,
            kind=PairKind.SHORT_LONG,
            doc_id=f"doc{i}",
            chunk_id=f"doc{i}#0",
            generator=Generator.ICT,
            llm_model=None,
            template_hash=None,
        )
        for i in range(4)
    ]
    synth_write(tmp_path / "pairs.jsonl", written)
    pairs = read_pairs(tmp_path / "pairs.jsonl").pairs
    assert [(p.query, p.positive, p.negatives, p.doc_id, p.kind, p.generator) for p in pairs] == [
        (w.query, w.positive, w.negatives, w.doc_id, "short-long", "ict") for w in written
    ]


# ----------------------------------------------------------------------------- split
def _pairs(tmp_path, **kwargs):
    return read_pairs(write_pairs(tmp_path / "pairs.jsonl", pair_rows(**kwargs))).pairs


def test_split_never_shares_a_document(tmp_path):
    pairs = _pairs(tmp_path, n_docs=20, per_doc=3)
    split = split_by_document(pairs, dev_fraction=0.2, seed=1)
    train_docs = {p.doc_id for p in split.train}
    dev_docs = {p.doc_id for p in split.dev}
    assert not train_docs & dev_docs
    assert (split.train_documents, split.dev_documents) == (16, 4) == (len(train_docs), len(dev_docs))
    assert len(split.train) + len(split.dev) == len(pairs)


def test_split_is_seeded_and_independent_of_line_order(tmp_path):
    pairs = _pairs(tmp_path, n_docs=20, per_doc=3)
    a = split_by_document(pairs, 0.2, seed=1)
    b = split_by_document(tuple(reversed(pairs)), 0.2, seed=1)
    c = split_by_document(pairs, 0.2, seed=2)
    assert {p.doc_id for p in a.dev} == {p.doc_id for p in b.dev}
    assert {p.doc_id for p in a.dev} != {p.doc_id for p in c.dev}


def test_split_needs_two_documents_unless_disabled(tmp_path):
    pairs = _pairs(tmp_path, n_docs=1, per_doc=4)
    with pytest.raises(DomainembError, match="at least 2"):
        split_by_document(pairs, 0.1, seed=0)
    assert len(split_by_document(pairs, 0.0, seed=0).train) == 4
    two = _pairs(tmp_path, n_docs=2, per_doc=2)
    assert split_by_document(two, 0.5, seed=0).train  # never the whole file in dev


# ----------------------------------------------------------------------------- datasets and dev evaluator
def test_pairs_with_and_without_negatives_become_two_datasets(tmp_path):
    pairs = _pairs(tmp_path, n_docs=4, per_doc=2, negatives=2)
    data = train_datasets(pairs, hard_negatives=2)
    assert data[WITH_NEGATIVES].column_names == ["anchor", "positive", "negative_1", "negative_2"]
    assert data[IN_BATCH_ONLY].column_names == ["anchor", "positive"]
    assert len(data[WITH_NEGATIVES]) + len(data[IN_BATCH_ONLY]) == len(pairs)
    one = train_datasets(pairs, hard_negatives=0)
    assert one.column_names == ["anchor", "positive"] and len(one) == len(pairs)


def test_dev_evaluator_corpus_and_cap(tmp_path):
    pairs = _pairs(tmp_path, n_docs=3, per_doc=4, negatives=1)
    evaluator = dev_evaluator(pairs, max_queries=5, batch_size=8, seed=0)
    assert len(evaluator.queries) == 5
    texts = {p.positive for p in pairs} | {n for p in pairs for n in p.negatives}
    assert set(evaluator.corpus) == texts
    again = dev_evaluator(tuple(reversed(pairs)), max_queries=5, batch_size=8, seed=0)
    assert evaluator.queries == again.queries


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = [[0.01], [0.03], [0.08], [-0.02], [0.05]]
    a = bootstrap_mean(values, samples=2000, seed=7)
    assert a == bootstrap_mean(values, samples=2000, seed=7)
    assert a != bootstrap_mean(values, samples=2000, seed=8)
    assert a.low <= a.mean <= a.high
    assert a.mean == pytest.approx(0.03)
    assert a.low >= -0.02 and a.high <= 0.08


def test_bootstrap_resamples_items_within_a_single_task():
    rng = np.random.default_rng(0)
    items = rng.normal(0.1, 0.05, size=400)
    interval = bootstrap_mean([items], samples=2000, seed=0)
    half_width = 1.96 * items.std(ddof=1) / np.sqrt(items.size)
    assert interval.high - interval.low == pytest.approx(2 * half_width, rel=0.15)


def test_one_number_has_no_interval():
    interval = bootstrap_mean([[0.2]], samples=1000, seed=0)
    assert (interval.mean, interval.low, interval.high, interval.n_tasks) == (0.2, None, None, 1)


# ----------------------------------------------------------------------------- comparison
def _score(model: str, task: str, kind: str, value: float):
    provenance = SimpleNamespace(model=model, benchmark="bench/finance", benchmark_checksum="abc")
    return SimpleNamespace(task=task, task_type=kind, main_score_name="m", main_score=value, provenance=provenance)


def _suite_scores():
    base = {"R1": 0.40, "R2": 0.50, "S1": 0.70}
    adapted = {"R1": 0.48, "R2": 0.53, "S1": 0.69}
    kinds = {"R1": "Retrieval", "R2": "Retrieval", "S1": "STS"}
    return [_score("base", t, kinds[t], v) for t, v in base.items()] + [
        _score("new", t, kinds[t], v) for t, v in adapted.items()
    ]


def test_compare_suite_per_type_and_overall():
    suite = compare_suite(_suite_scores(), "base", "new", samples=1000, seed=0)
    assert [t.task for t in suite.tasks] == ["R1", "R2", "S1"]
    retrieval = suite.by_type["Retrieval"]
    assert retrieval.n_tasks == 2
    assert retrieval.delta == pytest.approx(0.055)
    assert retrieval.base == pytest.approx(0.45) and retrieval.adapted == pytest.approx(0.505)
    assert retrieval.low == pytest.approx(0.03) and retrieval.high == pytest.approx(0.08)
    assert suite.by_type["STS"].low is None
    assert suite.overall.delta == pytest.approx((0.08 + 0.03 - 0.01) / 3)
    assert suite.benchmark_checksum == "abc"


def test_compare_suite_refuses_unpaired_tasks():
    scores = _suite_scores()[:-1]
    with pytest.raises(DomainembError, match="only one of the two models"):
        compare_suite(scores, "base", "new", samples=1000, seed=0)


def _comparison() -> Comparison:
    pytest.importorskip("mteb")
    return build_comparison(
        domain="finance",
        base=ModelRef("base", "org/base", "f" * 64),
        adapted=ModelRef("new", "domainemb-adapted/base-finance", "e" * 64),
        suites={"domain": _suite_scores(), "general": _suite_scores()},
        samples=1000,
        seed=0,
    )


def test_comparison_round_trips_and_has_headline(tmp_path):
    comparison = _comparison()
    path = tmp_path / "comparison.json"
    comparison.to_disk(path)
    again = Comparison.from_disk(path)
    assert again == comparison
    data = json.loads(path.read_text())
    assert data["headline"]["domain_retrieval_ndcg_at_10"]["delta"] == pytest.approx(0.055)
    assert data["headline"]["general_mean"]["n_tasks"] == 3
    assert set(data) >= {"format", "domainemb_version", "mteb_version", "seed", "created"}


def test_model_card_section_is_inserted_then_replaced(tmp_path):
    record = {
        "domain": "finance",
        "domainemb_version": "0.1.0",
        "base": {"name": "minilm", "model_name": "sentence-transformers/all-MiniLM-L6-v2", "fingerprint": "a" * 64},
        "data": {
            "pairs": "pairs.jsonl",
            "sha256": "b" * 64,
            "pairs_used": 40,
            "duplicates": 2,
            "train_with_negatives": 10,
            "train_pairs": 30,
            "dev_pairs": 10,
            "train_documents": 9,
            "dev_documents": 3,
            "synth_card": SYNTH_CARD,
        },
        "hyperparameters": {"loss": "mnrl", "batch_size": 32, "matryoshka_dims": []},
        "training": {"dev_score_before": 0.5, "dev_score_after": 0.6, "steps": 10, "seconds": 12.0, "world_size": 1},
    }
    readme = tmp_path / "README.md"
    readme.write_text(
        "---\ntags: [x]\n---\n\n# SentenceTransformer\n\nintro\n\n## Model Details\n\nbody\n", encoding="utf-8"
    )
    write_card(tmp_path, render_section(record, None))
    text = readme.read_text()
    assert text.index(START) < text.index("## Model Details") and text.index("intro") < text.index(START)
    assert "sentence-transformers/all-MiniLM-L6-v2" in text and "ict 48" in text and "not scored" in text
    write_card(tmp_path, render_section(record, _comparison()))
    text = readme.read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    assert "| domain | Retrieval | 2 | 0.4500 | 0.5050 | +0.0550 | [+0.0300, +0.0800] |" in text
    assert "not scored" not in text and text.endswith("body\n")
