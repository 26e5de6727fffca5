"""A BEIR folder as it is published (FiQA's layout) builds as it is; ``--strict`` refuses it as before.

Published BEIR folders hold one ``queries.jsonl`` for train, dev and test, judgements in
``qrels/{train,dev,test}.tsv``, and now and then an empty passage. The build judges on
``qrels/test.tsv``, leaves out the queries it does not judge, skips empty documents and queries
with one warning each, keeps queries whose judgements are all 0 (as mteb does), and counts all of
it in the manifest.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.domains.benchmark import Benchmark

runner = CliRunner()

TOPICS = [
    "business expense on a trip",
    "claiming a home office deduction",
    "rolling over a 401k to an IRA",
    "paying down a mortgage early",
    "buying index funds or ETFs",
    "reporting stock options on taxes",
    "opening a brokerage account abroad",
    "using a credit card for rewards",
]


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _tsv(path: Path, rows: list[tuple[str, str, int]]) -> None:
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def fiqa_folder(root: Path, *, empty_passage: bool = True, empty_query: bool = False) -> Path:
    """A small folder laid out exactly as BEIR publishes FiQA-2018.

    40 passages (numeric ids, empty titles, a ``metadata`` field), 30 queries in one file (18 train,
    6 dev, 6 test), and ``qrels/train.tsv``, ``dev.tsv``, ``test.tsv`` with their header row. Test
    query 24 has one relevant passage and the empty one; test query 29 is judged, but all 0.
    """
    folder = root / "fiqa"
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": str(100 + i), "title": "", "text": f"Answer {i} about {TOPICS[i % len(TOPICS)]}.", "metadata": {}}
        for i in range(40)
    ]
    if empty_passage:
        corpus[7]["text"] = ""
    queries = [
        {"_id": str(i), "text": f"Question {i}: what about {TOPICS[i % len(TOPICS)]}?", "metadata": {}}
        for i in range(30)
    ]
    if empty_query:
        queries[26]["text"] = "   "
    _jsonl(folder / "corpus.jsonl", corpus)
    _jsonl(folder / "queries.jsonl", queries)
    _tsv(folder / "qrels" / "train.tsv", [(str(q), str(100 + q), 1) for q in range(18)])
    _tsv(folder / "qrels" / "dev.tsv", [(str(q), str(100 + q), 1) for q in range(18, 24)])
    test = [("24", "124", 1), ("24", "107", 1), ("25", "125", 1), ("25", "135", 1), ("26", "126", 1)]
    test += [("27", "127", 1), ("28", "128", 1), ("29", "129", 0), ("29", "139", 0)]
    _tsv(folder / "qrels" / "test.tsv", test)
    return folder


@pytest.fixture(autouse=True)
def _only_the_users_tasks(monkeypatch):
    """Only the user's task is built: the built-in suite is exercised elsewhere."""
    import domainemb.domains.build as build

    monkeypatch.setattr(build, "domain_tasks", lambda domain: ())


def _build(tmp_path: Path, *args: str):
    out = tmp_path / "work" / "bench"
    out.parent.mkdir(exist_ok=True)
    result = runner.invoke(app, ["build-benchmark", "finance", *args, "--out", str(out)], catch_exceptions=False)
    return result, out


@pytest.mark.parametrize("size", ["lite", "full"])
def test_a_published_fiqa_folder_builds_with_its_counts_in_the_manifest(tmp_path, caplog, size):
    task = fiqa_folder(tmp_path)
    with caplog.at_level(logging.WARNING):
        result, out = _build(tmp_path, "--task", str(task), "--size", size)
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "manifest.json").read_text())["tasks"][0]
    assert entry["name"] == "Fiqa" and entry["origin"] == "user"
    assert entry["data_counts"] == {
        "skipped_empty_documents": 1,
        "skipped_empty_queries": 0,
        "skipped_judgements_of_empty_texts": 1,
        "skipped_queries_without_test_judgement": 24,
        "kept_queries_without_relevant_document": 1,
    }
    assert entry["sizes"] == {"corpus": 39, "qrels": 8, "queries": 6}
    # Only test.tsv and the two jsonl files feed the task; train.tsv and dev.tsv are not read.
    assert sorted(entry["source_checksums"]["user/Fiqa"]) == ["corpus.jsonl", "qrels/test.tsv", "queries.jsonl"]

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(task / "corpus.jsonl") in warnings[0] and "skipped 1 empty document" in warnings[0]

    tables = Benchmark.open(out).tables(Benchmark.open(out).task("Fiqa"))
    assert sorted(tables["queries"]["id"].to_list()) == ["24", "25", "26", "27", "28", "29"]
    assert "107" not in tables["corpus"]["id"].to_list()
    zero = tables["qrels"].filter(pl.col("query_id") == "29")
    assert zero["score"].to_list() == [0, 0], "a query judged all 0 is kept, as mteb keeps it"


def test_an_empty_query_is_skipped_with_its_own_warning(tmp_path, caplog):
    task = fiqa_folder(tmp_path, empty_passage=False, empty_query=True)
    with caplog.at_level(logging.WARNING):
        result, out = _build(tmp_path, "--task", str(task))
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "manifest.json").read_text())["tasks"][0]
    assert entry["data_counts"]["skipped_empty_queries"] == 1
    assert entry["data_counts"]["skipped_empty_documents"] == 0
    assert entry["data_counts"]["skipped_judgements_of_empty_texts"] == 1
    assert entry["sizes"] == {"corpus": 40, "qrels": 8, "queries": 5}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and str(task / "queries.jsonl") in warnings[0] and "1 empty query" in warnings[0]


@pytest.mark.parametrize(
    ("empty_passage", "file", "needle"),
    [
        (True, "corpus.jsonl", "empty text in column 'text'"),
        (False, "queries.jsonl", "query '0' has no relevant document in qrels"),
    ],
)
def test_strict_refuses_the_published_folder_as_before(tmp_path, empty_passage, file, needle):
    task = fiqa_folder(tmp_path, empty_passage=empty_passage)
    result, out = _build(tmp_path, "--task", str(task), "--strict")
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert str(task / file) in lines[0] and needle in lines[0], lines[0]
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_strict_refuses_a_query_judged_all_zero(tmp_path):
    task = fiqa_folder(tmp_path, empty_passage=False)
    # Only test queries in the queries file: what is left for --strict is query 29, judged all 0.
    rows = [json.loads(line) for line in (task / "queries.jsonl").read_text().splitlines()]
    _jsonl(task / "queries.jsonl", [r for r in rows if int(r["_id"]) >= 24])
    result, out = _build(tmp_path, "--task", str(task), "--strict")
    assert result.exit_code == 2, result.output
    assert "query '29' has no relevant document in qrels" in result.output
    result, out = _build(tmp_path, "--task", str(task))
    assert result.exit_code == 0, result.output


def test_what_a_published_folder_cannot_mend_is_still_refused(tmp_path):
    """A judgement of a passage that is not in the corpus at all is an error, strict or not."""
    task = fiqa_folder(tmp_path)
    with (task / "qrels" / "test.tsv").open("a") as f:
        f.write("25\t999\t1\n")
    result, out = _build(tmp_path, "--task", str(task))
    assert result.exit_code == 2, result.output
    assert "test.tsv" in result.output and "missing document '999'" in result.output
    assert not out.exists()


def test_the_counts_survive_reading_the_manifest(tmp_path):
    task = fiqa_folder(tmp_path)
    result, out = _build(tmp_path, "--task", str(task))
    assert result.exit_code == 0, result.output
    entry = Benchmark.open(out).task("Fiqa")
    assert entry.data_counts["skipped_queries_without_test_judgement"] == 24


def test_the_built_folder_scores_through_mteb(tmp_path):
    """The kept all-0 query and the skipped texts leave a task that mteb scores (a finite score)."""
    import mteb
    from evaluation_data import KeywordEncoder

    from domainemb.evaluation.mteb_tasks import mteb_tasks

    result, out = _build(tmp_path, "--task", str(fiqa_folder(tmp_path)))
    assert result.exit_code == 0, result.output
    scored = mteb.evaluate(KeywordEncoder().mteb_model(), mteb_tasks(Benchmark.open(out)), cache=None)
    (task,) = scored.task_results
    assert task.task_name == "Fiqa" and 0.0 <= task.get_score() <= 1.0
