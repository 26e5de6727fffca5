"""The corpus task (``build-benchmark --corpus DIR --corpus-generator ict``) plans queries as ``synth`` does.

ICT cannot make a query from a one-sentence document: such chunks stay in the task's corpus but no item is
planned for them, so ``--corpus-limit N`` gives N queries when the test documents have N usable chunks, the
drop is recorded in the manifest's ``data_counts``, and test documents with no usable chunk are a one-line
error (exit 2) that leaves no benchmark folder behind.
"""

from __future__ import annotations

import json
import random

import pytest
from synth_data import HashEmbedder, prose
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.domains.benchmark import Benchmark
from domainemb.domains.manifest import MANIFEST
from domainemb.synth import pipeline
from domainemb.synth.config import Generator, PairKind, SynthConfig
from domainemb.synth.corpus import read_corpus
from domainemb.synth.corpus_task import CorpusTaskConfig, corpus_task, split_documents

runner = CliRunner()
LONG, SHORT = 4, 6  # documents of three sentences (one chunk each) and of one sentence
FRACTION, SEED = 0.9, 42  # nine of the ten documents are test documents, at least three long and five short


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    """No suite tasks, no model (the bag-of-words fake embeds), and the work folder under tmp_path."""
    monkeypatch.setattr("domainemb.domains.build.domain_tasks", lambda domain: ())
    monkeypatch.setattr("domainemb.synth.pipeline.SentenceTransformerEmbedder", lambda model=None, **_: HashEmbedder())
    monkeypatch.chdir(tmp_path)


def _corpus(root, long: int = LONG, short: int = SHORT):
    rng = random.Random(5)
    root.mkdir(parents=True)
    for i in range(long):
        (root / f"long-{i}.txt").write_text(prose(rng, 3), encoding="utf-8")
    for i in range(short):
        (root / f"short-{i}.txt").write_text(prose(rng, 1), encoding="utf-8")
    return root


def _test_documents(corpus) -> list[str]:
    test, _ = split_documents(read_corpus(corpus).documents, FRACTION, SEED)
    return [d.id for d in test]


def _build(corpus, out, *extra: str):
    args = ["build-benchmark", "finance", "--size", "full", "--out", str(out), "--corpus", str(corpus)]
    args += ["--corpus-generator", "ict", "--corpus-test-fraction", str(FRACTION), *extra]
    return runner.invoke(app, args)


@pytest.mark.parametrize("limit", [None, "usable", 2])
def test_ict_queries_number_the_usable_test_chunks_and_the_drop_is_in_the_manifest(tmp_path, limit):
    corpus = _corpus(tmp_path / "docs")
    test_docs = _test_documents(corpus)
    long_docs = [d for d in test_docs if d.startswith("long-")]
    n_short = len(test_docs) - len(long_docs)
    assert len(long_docs) >= 3 and n_short >= 5  # the split mixes both kinds
    requested = len(long_docs) if limit == "usable" else limit
    out = tmp_path / "built"

    result = _build(corpus, out, *(["--corpus-limit", str(requested)] if requested else []))
    assert result.exit_code == 0, result.output
    built = Benchmark.open(out)
    (task,) = built.tasks
    tables = built.tables(task)
    assert tables["queries"].height == (requested or len(long_docs))  # every planned item succeeded
    assert sorted(tables["corpus"]["title"].to_list()) == sorted(test_docs)  # short chunks stay in the corpus
    titles = dict(zip(tables["corpus"]["id"].to_list(), tables["corpus"]["title"].to_list(), strict=True))
    assert {titles[c] for c in tables["qrels"]["corpus_id"].to_list()} <= set(long_docs)
    assert task.data_counts["too-short-for-ict"] == n_short and task.data_counts["failed-items"] == 0
    entry = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["tasks"][0]
    assert entry["data_counts"]["too-short-for-ict"] == n_short  # as written


def test_test_documents_without_a_usable_chunk_are_one_line_and_leave_no_folder(tmp_path):
    tweets = _corpus(tmp_path / "tweets", long=0, short=5)
    out = tmp_path / "built"
    result = _build(tweets, out)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert str(tweets) in message and "no chunk the ict generator can use" in message, message
    assert "all 4 chunks of the test documents are too short" in message and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tweets"]  # no benchmark, staging or work folder

    # an existing benchmark at --out is left as it was
    good = _build(_corpus(tmp_path / "docs"), out)
    assert good.exit_code == 0, good.output
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = _build(tweets, out)
    assert result.exit_code == 2 and "no chunk the ict generator can use" in " ".join(result.output.split())
    assert {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    Benchmark.open(out)


def test_the_llm_generator_still_plans_every_test_chunk(tmp_path, monkeypatch):
    corpus = _corpus(tmp_path / "docs")
    synth = SynthConfig(
        domain="finance", corpus=corpus, out=tmp_path / "work" / "q.jsonl", kinds=(PairKind.SHORT_LONG,), negatives=0
    )
    spec = corpus_task("finance", CorpusTaskConfig(corpus=corpus, synth=synth, test_fraction=FRACTION))
    seen = {}

    class Planned(Exception):
        pass

    def generate(chunks, config, *a, **k):
        seen["docs"] = sorted(c.doc_id for c in chunks)
        raise Planned

    monkeypatch.setattr(pipeline, "generate", generate)
    with pytest.raises(Planned):
        spec.build(None)
    assert synth.generator is Generator.LLM and seen["docs"] == sorted(_test_documents(corpus))


def test_a_manifest_written_before_data_counts_still_opens(tmp_path):
    """Corpus tasks built before this change have no ``data_counts`` in their manifest entry."""
    out = tmp_path / "built"
    assert _build(_corpus(tmp_path / "docs"), out).exit_code == 0
    raw = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    raw["tasks"][0].pop("data_counts", None)
    (out / MANIFEST).write_text(json.dumps(raw, indent=2, sort_keys=True), encoding="utf-8")
    (task,) = Benchmark.open(out).tasks
    assert task.data_counts == {} and task.origin == "corpus"
    assert Benchmark.open(out).tables(task)["queries"].height > 0
