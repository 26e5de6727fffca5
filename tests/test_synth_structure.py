"""The ``structure`` generator: a heading (Markdown, HTML, an exported textbook's titles) -> the passage under it."""

from __future__ import annotations

import dataclasses
import json

import pytest
from synth_data import read_jsonl, retrieval_benchmark
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.domains.readers import SourceFiles
from domainemb.domains.registry import domain_training_corpora
from domainemb.errors import DomainembError
from domainemb.pairs import Generator, PairKind, jsonl_line, read_card, read_pairs
from domainemb.synth.config import SynthConfig
from domainemb.synth.corpus import read_corpus
from domainemb.synth.corpus_task import CorpusTaskConfig
from domainemb.synth.decontam import HeldOut
from domainemb.synth.pipeline import synthesize
from domainemb.synth.structure import DROP_REASONS, clean_heading, section_chunks

runner = CliRunner()
NO_MODEL = {"negatives": 0, "consistency_top_k": 0, "near_duplicate": 1.0}
NO_MODEL_FLAGS = ["--negatives", "0", "--consistency-top-k", "0", "--near-duplicate", "1.0"]
# The teacher would load mpnet; these runs need no model at all.
_HAS_TEACHER = "teacher" in {f.name for f in dataclasses.fields(SynthConfig)}
NO_TEACHER = {"teacher": "none"} if _HAS_TEACHER else {}
NO_TEACHER_FLAGS = ["--teacher", "none"] if _HAS_TEACHER else []

CASH = (
    "A cash flow statement reports the cash that came in and went out during the period, split into operating, "
    "investing and financing activities, so a reader sees where the money came from."
)
WORKING = (
    "Managing receivables, payables and inventory decides how much money a firm ties up in its daily operations, "
    "and a shorter cycle frees cash for investment."
)
INTRO = "This chapter is about reading financial statements of listed companies, one statement at a time in turn."
COPIED = (
    "Straight line depreciation spreads cost evenly: the asset loses the same amount of value in every year of its "
    "useful life until the salvage value is reached."
)
MARKDOWN = f"""Text before any heading has nothing to head it, so it only stays in the retrieval pool of the run.

```python
# a comment in a code block is no heading
```

# Cash Flow Statements

{CASH}

## Introduction

{INTRO}

## 4.2 Working Capital **Management**

{WORKING}

## 12

Numbers alone do not make a query, whatever the passage under them says about the company.

## Depreciation

Too short to be a passage.

## Straight Line Depreciation Spreads Cost

{COPIED}
"""
CAPITAL = (
    "Capital budgeting ranks long-term projects by the present value of their future cash flows, discounted at the "
    "cost of capital of the firm."
)
RATIOS = (
    "Liquidity ratios compare current assets with current liabilities and tell a lender whether the firm can pay "
    "what falls due within the year."
)
HTML = f"""<html><head><title>Corporate Finance Notes</title><style>h1 {{ color: red }}</style></head>
<body><p>{INTRO}</p>
<h1>Capital Budgeting</h1><p>{CAPITAL}</p>
<h2>Key Terms</h2><p>{RATIOS.replace("Liquidity", "Glossary")}</p>
<h3>Liquidity <em>Ratios</em></h3><p>{RATIOS}</p>
<script>document.write("<h1>not a heading</h1>")</script>
</body></html>
"""


def _config(corpus, out, **kw) -> SynthConfig:
    settings = {"domain": "finance", "generator": "structure", **NO_MODEL, **NO_TEACHER, **kw}
    return SynthConfig(corpus=corpus, out=out, **settings)


def _write(root, files: dict[str, str]):
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_markdown_headings_head_the_text_under_them_and_every_drop_is_counted(tmp_path):
    # a second file repeats a heading (with another passage): only the first passage under it is kept
    again = f"## Working capital management\n\n{CAPITAL}\n"
    corpus = _write(tmp_path / "md", {"a-notes.md": MARKDOWN, "b-more.md": again})
    result = synthesize(_config(corpus, tmp_path / "run" / "pairs.jsonl"), held_out=HeldOut.from_texts([]))

    pairs = read_pairs(result.out, strict=True).pairs
    assert {(p.query, p.positive) for p in pairs} == {
        ("Cash Flow Statements", CASH),
        ("Working Capital Management", WORKING),  # numbering and emphasis cut
    }
    assert {p.generator for p in pairs} == {Generator.STRUCTURE} and {p.kind for p in pairs} == {PairKind.SHORT_LONG}
    assert all(p.doc_id == "a-notes.md" and p.chunk_id.startswith("a-notes.md#") for p in pairs)
    drops = result.card.drops
    assert {r: drops[r] for r in DROP_REASONS} == {
        "heading-missing": 1,  # the text before the first heading
        "heading-too-short": 1,  # "12"
        "heading-too-long": 0,
        "heading-generic": 1,  # "Introduction"
        "heading-copied": 1,  # the first sentence repeats the 5-word heading
        "passage-too-short": 1,  # "Too short to be a passage."
        "heading-duplicate": 1,  # b-more.md's "Working capital management"
    }
    assert result.card.corpus.training_chunks == 8  # every section chunk stays in the pool
    assert result.card.items.planned == len(pairs) == result.card.counts.pairs
    assert result.card.kinds == ("short-long",)
    assert read_card(result.out) == result.card


def test_html_headings_and_the_title_head_their_text(tmp_path):
    corpus = _write(tmp_path / "html", {"notes.html": HTML})
    result = synthesize(_config(corpus, tmp_path / "run" / "pairs.jsonl"), held_out=HeldOut.from_texts([]))
    pairs = read_pairs(result.out, strict=True).pairs
    assert {(p.query, p.positive) for p in pairs} == {
        ("Corporate Finance Notes", INTRO),  # the <title> heads the text before the first heading
        ("Capital Budgeting", CAPITAL),
        ("Liquidity Ratios", RATIOS),
    }
    assert result.card.drops["heading-generic"] == 1  # Key Terms
    assert not any("not a heading" in p.query or "color" in p.positive for p in pairs)


def test_section_chunks_are_slices_of_one_section_without_its_heading(tmp_path):
    long_section = " ".join(f"word{i}" for i in range(50))
    corpus = _write(tmp_path / "c", {"doc.md": f"# First Part\n\n{long_section}\n\n# Second Part\n\n{CASH}\n"})
    (doc,) = read_corpus(corpus).documents
    assert [doc.text[s:e] for s, e in doc.headings] == ["First Part", "Second Part"]
    chunks = section_chunks([doc], size=20, overlap=5)
    assert [c.heading for c in chunks] == ["First Part"] * 3 + ["Second Part"] * 2
    assert [c.id for c in chunks] == [f"doc.md#{i}" for i in range(5)]
    for c in chunks:
        assert c.text == doc.text[c.start : c.end] and "Part" not in c.text
    assert chunks[2].text.endswith("word49") and chunks[3].text.startswith("A cash flow")  # never across a heading


def test_real_openstax_passages_pair_their_heading_with_their_paragraph(tmp_path):
    """A slice of Microbiology as export-corpus writes it: a paragraph per line, titled with its heading."""
    corpus = next(c for c in domain_training_corpora("medicine") if c.name == "openstax-microbiology")
    passages = []
    for passage in corpus.passages(SourceFiles()):
        passages.append(passage)
        if len(passages) == 300:
            break
    root = tmp_path / "export"
    root.mkdir()
    with open(root / f"{corpus.name}.jsonl", "w", encoding="utf-8") as fh:
        for p in passages:
            record = {"id": p.id, "text": p.text, "title": p.title, "corpus": p.corpus, "doc_id": p.doc_id}
            fh.write(jsonl_line({**record, "licence": "test"}))
    by_id = {f"{corpus.name}.jsonl:{p.id}": p for p in passages}

    config = _config(root, tmp_path / "a" / "pairs.jsonl", domain="medicine")
    result = synthesize(config, held_out=HeldOut.from_texts([]))
    pairs = read_pairs(result.out, strict=True).pairs
    assert len(pairs) > 20
    for pair in pairs:
        source = by_id[pair.doc_id]  # one exported paragraph is one document
        assert pair.query == clean_heading(source.title) and pair.positive in source.text
    assert len({p.query for p in pairs}) == len(pairs)
    assert "Introduction" not in {p.query for p in pairs}
    drops = result.card.drops
    generic = sum(1 for p in passages if p.title in ("Introduction", "Multiple Choice", "Fill in the Blank"))
    assert drops["heading-generic"] >= generic > 0
    assert sum(drops[r] for r in DROP_REASONS) + len(pairs) == result.card.corpus.training_chunks

    again = synthesize(dataclasses.replace(config, out=tmp_path / "b" / "pairs.jsonl"), held_out=HeldOut.from_texts([]))
    assert read_pairs(again.out, strict=True).pairs == pairs  # a fresh run makes the same pairs
    assert again.out.read_bytes() == result.out.read_bytes()
    resumed = synthesize(config, held_out=HeldOut.from_texts([]))
    assert (
        resumed.card.items.resumed == resumed.card.items.planned and resumed.out.read_bytes() == result.out.read_bytes()
    )


def test_a_section_quoting_test_data_is_left_out(tmp_path):
    corpus = _write(tmp_path / "md", {"a.md": MARKDOWN})
    held_out = HeldOut.from_texts([WORKING, "Cash Flow Statements"])  # a test passage and a test query
    result = synthesize(_config(corpus, tmp_path / "run" / "pairs.jsonl"), held_out=held_out)
    assert result.card.drops["contaminated-chunks"] == 1 and result.card.drops["decontamination"] == 1
    assert read_jsonl(result.out) == []  # the other sections are dropped by the structure rules


def test_structure_through_the_cli_and_a_corpus_without_headings(tmp_path):
    bench = retrieval_benchmark(tmp_path / "bench", ["an unrelated test document about enzymes"], ["what is an enzyme"])
    corpus = _write(tmp_path / "md", {"a.md": MARKDOWN})
    out = tmp_path / "run" / "pairs.jsonl"
    base = ["synth", "--domain", "finance", "--generator", "structure", "--benchmark", str(bench)]
    args = [*base, "--corpus", str(corpus), "--out", str(out), *NO_MODEL_FLAGS, *NO_TEACHER_FLAGS]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 pairs" in result.output and "heading-generic=1" in result.output
    assert {p.query for p in read_pairs(out, strict=True).pairs} == {
        "Cash Flow Statements",
        "Working Capital Management",
    }
    card = json.loads(out.with_name("pairs.card.json").read_text())
    assert card["config"]["generator"] == "structure" and card["counts"]["by_generator"] == {"structure": 2}

    # MAEC-style transcript windows: JSONL without titles gives nothing to pair, and says so before any work
    calls = tmp_path / "calls"
    calls.mkdir()
    (calls / "maec.jsonl").write_text(jsonl_line({"id": "c#0", "text": WORKING, "title": ""}), encoding="utf-8")
    bare = tmp_path / "bare" / "pairs.jsonl"
    refused = runner.invoke(
        app, [*base, "--corpus", str(calls), "--out", str(bare), *NO_MODEL_FLAGS, *NO_TEACHER_FLAGS]
    )
    assert refused.exit_code == 2, refused.output
    assert "no passage under a usable heading" in refused.output and "heading-missing=1" in refused.output
    assert "Traceback" not in refused.output and not bare.exists() and not list(bare.parent.glob("*"))


def test_a_corpus_task_refuses_the_structure_generator(tmp_path):
    with pytest.raises(DomainembError, match="a corpus task needs queries"):
        CorpusTaskConfig(corpus=tmp_path, synth=_config(tmp_path, tmp_path / "q.jsonl"))
