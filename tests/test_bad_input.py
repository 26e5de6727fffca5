"""Bad input: one clear line naming the dataset and file, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.domains.registry import domain_sources
from domainemb.types import Domain

runner = CliRunner()


def _beir(folder: Path, corpus=None, queries=None, qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n") -> Path:
    folder.mkdir(parents=True)
    corpus = (
        corpus
        if corpus is not None
        else [
            {"_id": "d1", "title": "Bonds", "text": "A bond is a debt security."},
            {"_id": "d2", "title": "Equity", "text": "A share is a unit of ownership."},
            {"_id": "d3", "title": "", "text": "Dividends are paid from earnings."},
        ]
    )
    queries = (
        queries
        if queries is not None
        else [{"_id": "q1", "text": "what is a bond"}, {"_id": "q2", "text": "what is a share"}]
    )
    for name, rows in (("corpus.jsonl", corpus), ("queries.jsonl", queries)):
        content = rows if isinstance(rows, (bytes, str)) else "\n".join(json.dumps(r) for r in rows) + "\n"
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(qrels)
    return folder


def _assert_clean_failure(result, out: Path, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


@pytest.fixture
def mirror_copy(tmp_path, data_dir):
    """A mirror of the chemistry datasets made of symlinks, so single files can be broken cheaply."""
    root = tmp_path / "mirror"
    for source in domain_sources(Domain.CHEMISTRY):
        (root / source.key).mkdir(parents=True)
        for f in source.files:
            os.symlink(data_dir / source.key / f.name, root / source.key / f.name)
    return root


def _build(tmp_path, *args, env=None):
    out = tmp_path / "work" / "bench"
    out.parent.mkdir(exist_ok=True)
    result = runner.invoke(app, ["build-benchmark", *args, "--out", str(out)], env=env, catch_exceptions=False)
    return result, out


def test_missing_source_file(tmp_path, mirror_copy):
    source = domain_sources(Domain.CHEMISTRY)[0]
    victim = source.files[0].name
    (mirror_copy / source.key / victim).unlink()
    env = {"DOMAINEMB_DATA": str(mirror_copy), "DOMAINEMB_UPSTREAM_URL": "http://127.0.0.1:9"}
    result, out = _build(tmp_path, "chemistry", env=env)
    _assert_clean_failure(result, out, source.key, victim, "missing")


def test_checksum_mismatch(tmp_path, mirror_copy):
    source = domain_sources(Domain.CHEMISTRY)[-1]
    victim = mirror_copy / source.key / source.files[0].name
    data = victim.read_bytes()
    victim.unlink()
    victim.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    result, out = _build(tmp_path, "chemistry", env={"DOMAINEMB_DATA": str(mirror_copy)})
    _assert_clean_failure(result, out, source.key, source.files[0].name, "checksum mismatch")


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("truncated_json", "invalid JSON on line"),
        ("wrong_encoding", "not valid utf-8"),
        ("empty_text", "empty text"),
        ("duplicate_ids", "duplicate id 'd1'"),
        ("dangling_qrel", "missing document 'd9'"),
        ("missing_file", "missing file"),
    ],
)
def test_bad_user_retrieval_task(tmp_path, case, needle, monkeypatch):
    # Keep the suite itself tiny: build the chemistry suite with the user's task appended.
    task = tmp_path / "mytask"
    if case == "truncated_json":
        _beir(task, corpus='{"_id": "d1", "text": "A bond"}\n{"_id": "d2", "te')
        file = "corpus.jsonl"
    elif case == "wrong_encoding":
        _beir(task, queries='{"_id": "q1", "text": "caf\xe9"}\n'.encode("latin-1"))
        file = "queries.jsonl"
    elif case == "empty_text":
        _beir(task, corpus=[{"_id": "d1", "text": "  "}, {"_id": "d2", "text": "x"}])
        file = "corpus.jsonl"
    elif case == "duplicate_ids":
        _beir(task, corpus=[{"_id": "d1", "text": "a"}, {"_id": "d1", "text": "b"}, {"_id": "d2", "text": "c"}])
        file = "corpus.jsonl"
    elif case == "dangling_qrel":
        _beir(task, qrels="query-id\tcorpus-id\tscore\nq1\td9\t1\nq2\td2\t1\n")
        file = "test.tsv"
    else:
        _beir(task)
        (task / "qrels" / "test.tsv").unlink()
        file = "test.tsv"
    _stub_suite(monkeypatch)
    # An empty passage is skipped with a warning unless --strict (tests/test_beir_folders.py).
    strict = ["--strict"] if case == "empty_text" else []
    result, out = _build(tmp_path, "chemistry", "--task", str(task), *strict)
    _assert_clean_failure(result, out, "mytask", file, needle)


def test_bad_task_yaml_unknown_key(tmp_path, monkeypatch):
    task = tmp_path / "pairs"
    task.mkdir()
    (task / "task.yaml").write_text("type: sts\ndata: p.csv\ncolumnz: {}\n")
    (task / "p.csv").write_text("sentence1,sentence2,score\na,b,1\n")
    _stub_suite(monkeypatch)
    result, out = _build(tmp_path, "chemistry", "--task", str(task))
    _assert_clean_failure(result, out, "task.yaml", "unknown key 'columnz'")


def test_good_user_tasks_are_validated_and_checksummed(tmp_path, monkeypatch):
    beir = _beir(tmp_path / "my-fin-qa")
    sts = tmp_path / "sts"
    sts.mkdir()
    (sts / "task.yaml").write_text(
        "name: MySTS\ntype: sts\ndata: p.csv\ncolumns: {score: sim}\nmin_score: 0\nmax_score: 1\nlicence: CC BY 4.0\n"
    )
    (sts / "p.csv").write_text("sentence1,sentence2,sim\nrates rise,rates go up,0.9\nrates rise,cats sleep,0.1\n")
    _stub_suite(monkeypatch)
    result, out = _build(tmp_path, "chemistry", "--task", str(beir), "--task", str(sts))
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    by_name = {t["name"]: t for t in manifest["tasks"]}
    assert by_name["MyFinQa"]["type"] == "Retrieval" and by_name["MyFinQa"]["origin"] == "user"
    assert by_name["MyFinQa"]["sizes"] == {"corpus": 3, "qrels": 2, "queries": 2}
    assert (
        by_name["MySTS"]["source_checksums"]["user/MySTS"]["p.csv"]
        == __import__("hashlib").sha256((sts / "p.csv").read_bytes()).hexdigest()
    )
    assert by_name["MySTS"]["licence"].endswith("CC BY 4.0")


def _stub_suite(monkeypatch):
    """Only the user's tasks: the built-in suite is exercised elsewhere."""
    import domainemb.domains.build as build

    monkeypatch.setattr(build, "domain_tasks", lambda domain: ())


def _sts_task(folder: Path, yaml_text: str, csv_text: str = "sentence1,sentence2,score\na,b,1\nc,d,4\n") -> Path:
    folder.mkdir()
    (folder / "task.yaml").write_text(yaml_text)
    (folder / "p.csv").write_text(csv_text)
    return folder


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("min_score: low", "min_score must be a finite number, got 'low'"),
        ("max_score: .inf", "max_score must be a finite number, got inf"),
        ("columns: [sentence1, sentence2, score]", "columns must be a mapping"),
        ("columns: {score: 3}", "columns must be a mapping of column names"),
        (
            "columns: {similarity: sim}",
            "columns must be a mapping of sentence1, sentence2, score (unknown 'similarity')",
        ),
        ("name: [1, 2]", "name must be a string, got [1, 2]"),
        ("name: '--'", "name must be a task name"),
        ("description: {what: pairs}", "description must be a string, got {'what': 'pairs'}"),
        ("licence: 4.0", "licence must be a string"),
        ("type: regression", "type must be one of sts, pair-classification, classification"),
    ],
)
def test_bad_task_yaml_value(tmp_path, monkeypatch, line, needle):
    """A value of the wrong type is refused when task.yaml is read, naming the file and the key."""
    base = {"type": "type: sts", "data": "data: p.csv"}
    key = line.split(":")[0]
    lines = [v for k, v in base.items() if k != key] + [line]
    task = _sts_task(tmp_path / "pairs", "\n".join(lines) + "\n")
    _stub_suite(monkeypatch)
    result, out = _build(tmp_path, "chemistry", "--task", str(task))
    _assert_clean_failure(result, out, "task.yaml", needle)


@pytest.mark.parametrize("size", ["lite", "full"])
@pytest.mark.parametrize(
    ("file", "content", "needle"),
    [
        ("p.csv", "sentence1,sentence2,score\na,b,1\nc,d,nan\n", "row 2: score must be a finite number, got 'nan'"),
        ("p.csv", "sentence1,sentence2,score\na,b,inf\nc,d,2\n", "row 1: score must be a finite number, got 'inf'"),
        ("p.csv", "sentence1,sentence2,score\na,b,1\nc,d,\n", "row 2: missing score"),
        ("p.csv", "sentence1,sentence2,score\na,b,1\nc,d,high\n", "row 2: score must be a finite number, got 'high'"),
        (
            "p.jsonl",
            '{"sentence1": "a", "sentence2": "b", "score": 1}\n{"sentence1": "c", "sentence2": "d", "score": NaN}\n',
            "row 2: score must be a finite number, got nan",
        ),
        (
            "p.jsonl",
            '{"sentence1": "a", "sentence2": "b", "score": 1}\n{"sentence1": "c", "sentence2": "d", "score": null}\n',
            "row 2 lacks column 'score'",
        ),
    ],
)
def test_sts_gold_score_that_is_no_number(tmp_path, monkeypatch, size, file, content, needle):
    """A NaN, infinite or missing gold score is an error naming the file and the row, in both sizes."""
    task = tmp_path / "sts"
    task.mkdir()
    (task / "task.yaml").write_text(f"type: sts\ndata: {file}\n")
    (task / file).write_text(content)
    _stub_suite(monkeypatch)
    result, out = _build(tmp_path, "chemistry", "--task", str(task), "--size", size)
    _assert_clean_failure(result, out, file, needle)


def test_validation_refuses_a_nan_score_in_any_sts_table():
    """Below the user's files too: a NaN score never reaches a benchmark (it would be scored as nan)."""
    from domainemb.domains.tables import pair_tables, validate
    from domainemb.errors import DataError
    from domainemb.types import TaskType

    tables = pair_tables([("a", "b", 1.0), ("c", "d", float("nan"))], TaskType.STS)
    with pytest.raises(DataError, match=r"score nan is not a finite number \(row 1\)"):
        validate("MySTS", TaskType.STS, tables, 0.0, 5.0)
