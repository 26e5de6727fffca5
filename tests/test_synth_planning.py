"""The LLM-free generators plan items only over chunks they can use: ``--limit N`` means N items that can succeed.

A one-sentence text (a tweet, a headline) cannot make an ICT pair, nor a text of a few words two crops: such
chunks are counted as plan-time drops in the card (``too-short-for-ict``, ``too-short-for-crop``), never as
failed items, and they stay in the retrieval pool for consistency and negatives.
"""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
from synth_data import HashEmbedder, prose, read_jsonl, retrieval_benchmark
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.errors import DomainembError
from domainemb.pairs import Generator, read_pairs
from domainemb.synth import generate as generate_module
from domainemb.synth import pipeline
from domainemb.synth.config import SynthConfig
from domainemb.synth.corpus import Document, chunk_document
from domainemb.synth.decontam import HeldOut
from domainemb.synth.generate import ItemFailed, crop_pair, ict_pair, plan
from domainemb.synth.pipeline import synthesize

LONG, SHORT = 4, 6  # multi-sentence documents (one chunk each) and one-sentence ones
# Models are never loaded: the fake embedder mines one negative from the whole pool.
RUN = {"domain": "finance", "teacher": "none", "consistency_top_k": 0, "near_duplicate": 1.0, "negatives": 1}
RUN_FLAGS = ["--teacher", "none", "--negatives", "0", "--consistency-top-k", "0", "--near-duplicate", "1.0"]


def _corpus(root, short_text=None):
    """LONG documents of 3 sentences (about 45 tokens) and SHORT of one: one-sentence train texts (tweets,
    headlines) next to passages. ``short_text(i)``: the short documents' text instead of one sentence."""
    rng = random.Random(7)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(LONG):
        (root / f"long-{i}.txt").write_text(prose(rng, 3), encoding="utf-8")
    for i in range(SHORT):
        text = short_text(i) if short_text else prose(rng, 1)
        (root / f"short-{i}.txt").write_text(text, encoding="utf-8")
    return root


def _config(corpus, out, **settings) -> SynthConfig:
    return SynthConfig(corpus=corpus, out=out, **{**RUN, **settings})


def _run(config: SynthConfig):
    return synthesize(config, embedder=HashEmbedder(), held_out=HeldOut.from_texts([]))


def _texts(corpus, prefix: str) -> set[str]:
    return {p.read_text(encoding="utf-8") for p in corpus.glob(f"{prefix}-*.txt")}


@pytest.mark.parametrize(
    ("generator", "reason", "short_text"),
    [
        (Generator.ICT, "too-short-for-ict", None),
        # three words: 3 * 0.5 < 5 tokens, too short for two crops (a one-sentence text of 15 words is not)
        (Generator.CROP, "too-short-for-crop", lambda i: f"Revenue rose {i}."),
    ],
)
def test_limit_plans_only_usable_chunks_and_the_rest_stay_in_the_pool(tmp_path, generator, reason, short_text):
    corpus = _corpus(tmp_path / "corpus", short_text)
    out = tmp_path / "run" / "pairs.jsonl"
    result = _run(_config(corpus, out, generator=generator, limit=LONG, mine_ranks=(0, 20)))
    card = result.card

    assert card.items.planned == LONG and card.items.generated == LONG
    assert card.failed.total == 0 and "too-short" not in card.failed.by_reason
    assert read_jsonl(out.with_name("pairs.failed.jsonl")) == []
    pairs = read_pairs(out, strict=True).pairs
    assert len(pairs) == LONG == card.counts.pairs
    assert {p.doc_id for p in pairs} == {f"long-{i}.txt" for i in range(LONG)}
    assert card.drops[reason] == SHORT  # counted where the other plan-time drops go, not as failures
    assert read_pairs(out).card.drops[reason] == SHORT  # as written in pairs.card.json

    # the short chunks are still the retrieval pool's: embedded with the others, and mined as negatives
    assert card.corpus.training_chunks == LONG + SHORT
    with np.load(out.with_name("pairs.pool.npz")) as cached:
        assert cached["embeddings"].shape[0] == LONG + SHORT
    negatives = {n for p in pairs for n in p.negatives}
    assert negatives and negatives & _texts(corpus, "short")


def test_fewer_usable_chunks_than_the_limit_plans_them_all_and_says_so(tmp_path, caplog):
    corpus = _corpus(tmp_path / "corpus")
    config = _config(corpus, tmp_path / "run" / "pairs.jsonl", generator=Generator.ICT, limit=50, negatives=0)
    with caplog.at_level(logging.INFO, logger="domainemb.synth.pipeline"):
        card = _run(config).card
    assert card.items.planned == card.counts.pairs == LONG and card.failed.total == 0
    assert card.drops["too-short-for-ict"] == SHORT
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"--limit 50: only {LONG} of {LONG + SHORT} training chunks are usable" in m for m in warned), warned


@pytest.mark.parametrize(
    ("generator", "predicate", "make"),
    [(Generator.ICT, "ict_usable", ict_pair), (Generator.CROP, "crop_usable", crop_pair)],
)
def test_the_planner_and_the_pair_function_apply_one_predicate(tmp_path, monkeypatch, generator, predicate, make):
    """Replace the predicate: the planner and the pair function both follow, so they can never disagree."""
    corpus = _corpus(tmp_path / "corpus", (lambda i: f"Revenue rose {i}.") if generator is Generator.CROP else None)
    marked = "long-0.txt"
    keep = " ".join((corpus / marked).read_text(encoding="utf-8").split())
    original = getattr(generate_module, predicate)
    monkeypatch.setattr(
        generate_module, predicate, lambda text, *a: " ".join(text.split()) == keep and original(text, *a)
    )

    out = tmp_path / "run" / "pairs.jsonl"
    card = _run(_config(corpus, out, generator=generator, negatives=0)).card
    assert card.items.planned == 1 and [p.doc_id for p in read_pairs(out, strict=True).pairs] == [marked]
    assert card.drops[generate_module.UNUSABLE_REASON[generator]] == LONG + SHORT - 1

    other = (corpus / "long-1.txt").read_text(encoding="utf-8")  # usable before the patch
    items = plan(
        chunk_document(Document("long-1.txt", other), 160, 0), _config(corpus, out, generator=generator), [], {}
    )
    with pytest.raises(ItemFailed, match="too-short"):
        make(items[0], 0)


def test_no_usable_chunk_is_one_line_naming_corpus_and_generator_and_writes_nothing(tmp_path):
    bench = retrieval_benchmark(tmp_path / "bench", ["an unrelated test document about enzymes"], ["what is an enzyme"])
    tweets = tmp_path / "tweets"
    tweets.mkdir()
    rng = random.Random(3)
    for i in range(3):
        (tweets / f"t{i}.txt").write_text(prose(rng, 1), encoding="utf-8")
    out = tmp_path / "run" / "pairs.jsonl"
    args = ["synth", "--corpus", str(tweets), "--out", str(out), "--generator", "ict", "--benchmark", str(bench)]
    result = CliRunner().invoke(app, [*args, "--domain", "finance", *RUN_FLAGS])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert str(tweets) in message and "no chunk the ict generator can use" in message
    assert "all 3 training chunks are too short" in message and "Traceback" not in result.output
    assert not out.exists() and not list(out.parent.glob("*"))

    (tweets / "t0.txt").write_text("Rates rose.", encoding="utf-8")  # 2 tokens: no two crops of 5
    for name in ("t1.txt", "t2.txt"):
        (tweets / name).unlink()
    with pytest.raises(DomainembError, match="no chunk the crop generator can use: all 1 training chunks"):
        _run(_config(tweets, out, generator=Generator.CROP))
    assert not list(out.parent.glob("*"))


def _old_planned_chunks(chunks, config, drops):
    """The planning before this change: every chunk for ict and crop (structure unchanged)."""
    if config.generator is Generator.STRUCTURE:
        selection = pipeline.select_sections(chunks, config)
        drops.update(selection.drops)
        return selection.chunks
    return chunks


@pytest.mark.parametrize("limit", [None, 6])
def test_an_old_half_finished_ict_run_resumes_without_mixing(tmp_path, monkeypatch, limit):
    """A run planned the old way (one-sentence chunks planned, failing ``too-short``), cut short, then resumed.

    Item keys do not depend on which chunks are planned, and the old plan's successes are the usable chunks
    among the first items of the same order, so all of them are planned again and resumed; the old
    ``too-short`` failures are no longer planned and no longer counted.
    """
    corpus = _corpus(tmp_path / "corpus")
    out = tmp_path / "run" / "pairs.jsonl"
    config = _config(corpus, out, generator=Generator.ICT, limit=limit, negatives=0)
    with monkeypatch.context() as old:
        old.setattr(pipeline, "planned_chunks", _old_planned_chunks)
        before = _run(config).card
    assert before.failed.by_reason.get("too-short", 0) > 0  # the old plan's one-sentence items
    raw = out.with_name("pairs.raw.jsonl")
    done = read_jsonl(raw)
    assert len(done) >= 2
    kept = done[: len(done) // 2]  # interrupted half way
    raw.write_text("".join(line + "\n" for line in raw.read_text(encoding="utf-8").splitlines()[: len(kept)]))

    card = _run(config).card
    assert card.items.resumed == len(kept) and card.failed.total == 0
    assert card.items.planned == card.counts.pairs == (LONG if limit is None else min(LONG, limit))
    records = read_jsonl(raw)
    assert len({r["key"] for r in records}) == len(records)  # nothing generated twice
    assert all(r in records for r in kept)  # the old pairs as they were
    assert {p.key for p in read_pairs(out, strict=True).pairs} >= {r["key"] for r in kept}
    assert card.drops["too-short-for-ict"] == SHORT
