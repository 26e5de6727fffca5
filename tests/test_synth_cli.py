"""`domainemb synth`, `export-corpus`, `llm serve` and `build-benchmark --corpus` through the CLI."""

from __future__ import annotations

import json

import polars as pl
import pytest
from synth_data import HashEmbedder, retrieval_benchmark, write_corpus
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.domains.benchmark import Benchmark
from domainemb.pairs import read_pairs
from domainemb.synth_card import SynthCard

runner = CliRunner()
NO_MODEL = ["--negatives", "0", "--consistency-top-k", "0", "--near-duplicate", "1.0"]


@pytest.fixture()
def bench(tmp_path):
    return retrieval_benchmark(
        tmp_path / "bench", ["an unrelated test document about enzymes and catalysis"], ["what is an enzyme"]
    )


def test_synth_ict_writes_pairs_and_card(tmp_path, bench):
    corpus = write_corpus(tmp_path / "corpus", docs=3)
    out = tmp_path / "run" / "pairs.jsonl"
    args = [
        "synth",
        "--domain",
        "finance",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--generator",
        "ict",
        "--benchmark",
        str(bench),
        *NO_MODEL,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    pairs = read_pairs(out, strict=True).pairs
    assert pairs and {p.generator.value for p in pairs} == {"ict"}
    card = json.loads((out.with_name(f"{out.stem}.card.json")).read_text())
    assert card["counts"]["pairs"] == len(pairs) and card["config"]["generator"] == "ict"
    assert card["decontamination"]["against"] == [str(bench)]
    assert SynthCard.from_dict(card).to_dict() == card  # the typed card reads back what synth wrote
    assert f"{len(pairs)} pairs" in result.output
    again = runner.invoke(app, args)  # a rerun does nothing new and gives the same file
    assert again.exit_code == 0 and read_pairs(out, strict=True).pairs == pairs
    assert (
        json.loads((out.with_name(f"{out.stem}.card.json")).read_text())["items"]["resumed"] == card["items"]["planned"]
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--corpus", "/no/such/folder"], "corpus is not a folder"),
        (["--base-url", "http://127.0.0.1:9/v1"], "needs a model name: pass --llm-model"),
        (["--out", "pairs.csv"], "must be a .jsonl file"),
        (["--mine-ranks", "10-210"], "FIRST:LAST"),
    ],
)
def test_synth_user_errors_are_one_line(tmp_path, bench, extra, message):
    corpus = write_corpus(tmp_path / "corpus", docs=2)
    args = [
        "synth",
        "--domain",
        "finance",
        "--corpus",
        str(corpus),
        "--out",
        str(tmp_path / "p.jsonl"),
        "--benchmark",
        str(bench),
        *extra,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_llm_serve_without_llama_cpp_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    result = runner.invoke(app, ["llm", "serve"])
    assert result.exit_code == 2 and "llama-cpp-python[server]" in result.output


def test_build_benchmark_corpus_task_splits_by_document(tmp_path, monkeypatch, bench):
    """The corpus task records its test documents; synth never trains on them."""
    corpus = write_corpus(tmp_path / "my reports", docs=10)
    monkeypatch.setattr("domainemb.domains.build.domain_tasks", lambda domain: ())
    monkeypatch.setattr("domainemb.synth.pipeline.SentenceTransformerEmbedder", lambda model=None, **_: HashEmbedder())
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "built"
    args = [
        "build-benchmark",
        "finance",
        "--size",
        "full",
        "--out",
        str(out),
        "--corpus",
        str(corpus),
        "--corpus-generator",
        "ict",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    built = Benchmark.open(out)
    (task,) = built.tasks
    assert task.name == "FinanceCorpusMyReportsRetrieval" and task.origin == "corpus" and task.type == "Retrieval"
    assert "Split by document: 2 of 10 documents" in task.description
    tables = built.tables(task)
    test_docs = set(tables["corpus"]["title"].to_list())
    assert len(test_docs) == 2
    assert set(tables["qrels"]["corpus_id"].to_list()) <= set(tables["corpus"]["id"].to_list())
    assert tables["queries"].height > 0
    assert (tmp_path / "work" / "synth" / "corpus-tasks" / task.name / "queries.raw.jsonl").is_file()  # resumable work

    pairs_out = tmp_path / "train" / "pairs.jsonl"
    result = runner.invoke(
        app,
        [
            "synth",
            "--domain",
            "finance",
            "--corpus",
            str(corpus),
            "--out",
            str(pairs_out),
            "--generator",
            "ict",
            "--benchmark",
            str(out),
            *NO_MODEL,
        ],
    )
    assert result.exit_code == 0, result.output
    card = json.loads((pairs_out.with_name(f"{pairs_out.stem}.card.json")).read_text())
    assert card["drops"]["test-documents"] == 2
    assert not {p.doc_id for p in read_pairs(pairs_out, strict=True).pairs} & test_docs
    corpus_texts = set(pl.concat([tables["corpus"]["text"]]).to_list())
    assert not any(p.positive in corpus_texts for p in read_pairs(pairs_out, strict=True).pairs)


@pytest.mark.slow
def test_export_corpus_keeps_test_data_out(tmp_path):
    """Finance's training-side texts: never a benchmark test text, never a 13-gram of one."""
    from domainemb.domains.readers import SourceFiles
    from domainemb.domains.registry import domain_tasks
    from domainemb.synth.decontam import HeldOut, test_texts
    from domainemb.synth.export import EXPORT_CARD

    out = tmp_path / "corpus"
    result = runner.invoke(app, ["export-corpus", "--domain", "finance", "--out", str(out)])
    assert result.exit_code == 0, result.output
    card = json.loads((out / EXPORT_CARD).read_text())
    assert card["texts"] > 1000 and card["drops"]["overlaps-test"] > 0
    files = SourceFiles()
    held = HeldOut.from_texts([t for spec in domain_tasks("finance") for t in test_texts(spec.build(files))])
    exported = [
        json.loads(line)["text"] for f in out.glob("*.jsonl") for line in f.read_text().split("\n") if line.strip()
    ]
    assert len(exported) == card["texts"]
    assert not any(held.touches(t) for t in exported)
    again = runner.invoke(app, ["export-corpus", "--domain", "finance", "--out", str(out)])  # replaces its own export
    assert again.exit_code == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    refused = runner.invoke(app, ["export-corpus", "--domain", "finance", "--out", str(tmp_path / "mine")])
    assert refused.exit_code == 2 and "not a domainemb corpus export" in refused.output


@pytest.mark.slow
def test_export_corpus_skips_chembench(tmp_path):
    from domainemb.synth.export import export_corpus

    result = export_corpus("chemistry", tmp_path / "chem")
    assert all("ChemBench" not in task for task in result.card["by_task"])
    assert set(result.card["skipped_tasks"]) == {
        "ChemBenchTopicClassification",
        "ChemBenchTopicClustering",
        "ChemBenchAnswerReranking",
    }


def test_export_corpus_refuses_an_empty_passage_window(tmp_path):
    result = runner.invoke(
        app, ["export-corpus", "--domain", "finance", "--out", str(tmp_path / "c"), "--sentences-per-passage", "0"]
    )
    assert result.exit_code == 2 and "sentences_per_passage must be at least 1, got 0" in result.output
    assert not (tmp_path / "c").exists()
