"""Every figure in BENCHMARKS.md traces to a committed run record under benchmarks/results/ (issue 17).

Checks, without running any benchmark:

* each file under ``benchmarks/results/`` is valid JSON of a known kind, with that kind's keys
  (a bench script's run record, ``benchmarks/records.py``; the MTEB reference record; the
  ``domainemb adapt`` run files of the adaptation figures), and small (figures, never weights);
* every record path BENCHMARKS.md cites exists;
* every section of BENCHMARKS.md with a table of figures cites a record, or says it has none
  ("no record; see above") and is then named in the list of figures without a run record.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
NO_RECORD = "no record; see above"  # "(no record; see above)", or closing a parenthesis
NO_RECORD_LIST = "Figures without a run record yet"
MAX_RECORD_BYTES = 200_000  # a record holds figures; anything larger is outputs or weights

#: Required top-level keys per kind of record.
BENCH_RECORD_KEYS = {
    "format",
    "area",
    "name",
    "command",
    "git_commit",
    "git_dirty",
    "date",
    "wall_time_s",
    "machine",
    "packages",
    "figures",
}
REFERENCE_KEYS = {"format", "model", "model_fingerprint", "benchmark_checksum", "mteb_version", "machine", "tasks"}
ADAPT_FILES = {
    "comparison.json": {"format", "domain", "base", "adapted", "suites", "mteb_version", "headline"},
    "adapt.json": {"domain", "base", "adapted", "data", "training", "versions", "wall_time_s", "peak_memory_mb"},
    "synth.card.json": {"counts", "drops", "items", "config", "domainemb_version"},
}


def record_problems(path: Path) -> list[str]:
    """What is wrong with one file under benchmarks/results/ (empty when nothing is)."""
    if path.stat().st_size > MAX_RECORD_BYTES:
        return [f"{path.stat().st_size} bytes: a record holds figures, not outputs or weights"]
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"not valid JSON: {exc}"]
    if not isinstance(record, dict):
        return ["not a JSON object"]
    fmt = record.get("format")
    if fmt == "domainemb-bench-record/1":
        problems = [f"missing key {k!r}" for k in sorted(BENCH_RECORD_KEYS - record.keys())]
        if problems:
            return problems
        if record["area"] != path.parent.name or record["name"] != path.stem:
            problems.append(f"area/name {record['area']}/{record['name']} do not match the file's place")
        if not (isinstance(record["command"], str) and "benchmarks/" in record["command"]):
            problems.append(f"command {record['command']!r} does not name the bench script")
        if not (isinstance(record["git_commit"], str) and re.fullmatch(r"[0-9a-f]{40}", record["git_commit"])):
            problems.append(f"git_commit {record['git_commit']!r} is not a commit id")
        try:
            datetime.strptime(record["date"], "%Y-%m-%dT%H:%M:%SZ")
        except (TypeError, ValueError):
            problems.append(f"date {record['date']!r} is not a UTC timestamp")
        machine = record["machine"]
        if not (isinstance(machine, dict) and machine.get("cpu_model") and isinstance(machine.get("cores"), int)):
            problems.append("machine lacks cpu_model or cores")
        if not (isinstance(record["packages"], dict) and record["packages"].get("domainemb")):
            problems.append("packages lacks the domainemb version")
        if not (isinstance(record["figures"], dict) and record["figures"]):
            problems.append("no figures")
        return problems
    if fmt == "domainemb-bench-reference/1":
        problems = [f"missing key {k!r}" for k in sorted(REFERENCE_KEYS - record.keys())]
        for task, row in record.get("tasks", {}).items():
            problems += [f"task {task} lacks {k!r}" for k in ("ours", "reference", "reference_file") if k not in row]
        return problems
    if path.parent.parent.name == "adapt-quality" and path.name in ADAPT_FILES:
        return [f"missing key {k!r}" for k in sorted(ADAPT_FILES[path.name] - record.keys())]
    return [f"unknown kind of record (format {fmt!r}): not a bench record, a reference record or an adapt run file"]


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of every section, a section running to the next heading of any level."""
    out: list[tuple[str, list[str]]] = [("(top)", [])]
    fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        if not fence and re.match(r"#{1,6} ", line):
            out.append((line.lstrip("#").strip(), []))
        else:
            out[-1][1].append(line)
    return [(heading, "\n".join(body)) for heading, body in out]


MEASURED = re.compile(r"\b\d[\d,]*\.\d+ ?(?:s|min|x|×|%)(?!\w)")  # 947.1 s, 1.09x, -3.32%


def figure_blocks(body: str) -> list[tuple[str, str]]:
    """(what, context) of each figure in a section: every table whose rows hold a number, with the
    text between it and its neighbouring tables; a section without such a table whose prose holds
    measured values (a decimal with a unit) is one block."""
    lines = body.splitlines()
    tables: list[tuple[int, int]] = []  # [start, end) of each run of table lines
    i = 0
    while i < len(lines):
        if lines[i].startswith("|"):
            start = i
            while i < len(lines) and lines[i].startswith("|"):
                i += 1
            tables.append((start, i))
        else:
            i += 1
    blocks = []
    for n, (start, end) in enumerate(tables):
        rows = [line for line in lines[start:end] if not re.fullmatch(r"[|\-: ]+", line)]
        if not any(re.search(r"\d", row) for row in rows[1:]):  # rows[0] is the header
            continue
        before = tables[n - 1][1] if n else 0
        after = tables[n + 1][0] if n + 1 < len(tables) else len(lines)
        blocks.append((f"table {n + 1} ({rows[0][:40]}...)", "\n".join(lines[before:after])))
    if not tables:
        prose = re.sub(r"```.*?```", "", body, flags=re.S)
        if MEASURED.search(prose):
            blocks.append(("its figures", body))
    return blocks


def cited_records(text: str) -> list[str]:
    return re.findall(r"benchmarks/results/[\w.\-/]*[\w\-]", text)


def no_record_list(text: str) -> str:
    for heading, body in sections(text):
        if heading.startswith(NO_RECORD_LIST):
            return body
    return ""


def benchmarks_problems(text: str, results: Path) -> list[str]:
    """Sections of BENCHMARKS.md whose figures do not trace to a record under ``results``."""
    problems = []
    root = results.parents[1]
    for cited in cited_records(text):
        if not (root / cited).exists():
            problems.append(f"cites {cited}, which does not exist")
    listed = no_record_list(text)
    for heading, body in sections(text):
        if heading.startswith(NO_RECORD_LIST):
            continue
        for what, context in figure_blocks(body):
            if cited_records(context):
                continue
            if NO_RECORD not in context:
                problems.append(f"section {heading!r}, {what}: cites no record and does not say {NO_RECORD!r}")
            elif heading not in listed:
                problems.append(
                    f"section {heading!r}, {what}: says it has no record but the list {NO_RECORD_LIST!r} does not name the section"
                )
    return problems


RECORD_FILES = sorted(p for p in RESULTS.rglob("*") if p.is_file())


@pytest.mark.parametrize("path", RECORD_FILES, ids=[str(p.relative_to(RESULTS)) for p in RECORD_FILES])
def test_every_record_is_valid_json_with_its_required_keys(path: Path) -> None:
    assert record_problems(path) == []


def test_benchmarks_md_figures_trace_to_records() -> None:
    assert RECORD_FILES, "benchmarks/results/ holds no record"
    assert benchmarks_problems(BENCHMARKS_MD.read_text(encoding="utf-8"), RESULTS) == []


# The checks themselves must be able to fail: each is run on a broken copy.


def test_a_missing_cited_record_fails(tmp_path: Path) -> None:
    results = tmp_path / "benchmarks" / "results"
    (results / "build").mkdir(parents=True)
    (results / "build" / "lite.json").write_text("{}")
    text = "## Build\n\n| a | b |\n|---|---|\n| x | 1.0 s |\n\nrecord: `benchmarks/results/build/full.json`\n"
    assert benchmarks_problems(text, results) == ["cites benchmarks/results/build/full.json, which does not exist"]
    assert benchmarks_problems(text.replace("full.json", "lite.json"), results) == []


def test_a_table_of_figures_without_a_record_or_a_marker_fails(tmp_path: Path) -> None:
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    table = "| a | b |\n|---|---|\n| x | 1.0 s |\n"
    what = "section 'Timings', table 1 (| a | b |...)"
    assert benchmarks_problems(f"## Timings\n\n{table}", results) == [
        f"{what}: cites no record and does not say {NO_RECORD!r}"
    ]
    marked = f"## Timings\n\n{table}\n{NO_RECORD}\n"
    assert benchmarks_problems(marked, results) == [
        f"{what}: says it has no record but the list {NO_RECORD_LIST!r} does not name the section"
    ]
    listed = f"## {NO_RECORD_LIST}\n\n| figure | command |\n|---|---|\n| Timings | x 1 |\n\n{marked}"
    assert benchmarks_problems(listed, results) == []
    assert benchmarks_problems("## Timings\n\n| a | b |\n|---|---|\n| x | y |\n", results) == []  # no number


def test_each_table_needs_its_own_record_and_prose_figures_count(tmp_path: Path) -> None:
    results = tmp_path / "benchmarks" / "results"
    (results / "synth").mkdir(parents=True)
    (results / "synth" / "throughput.json").write_text("{}")
    table = "| a | b |\n|---|---|\n| x | 1.0 s |\n"
    text = f"## Synth\n\nrecord: benchmarks/results/synth/throughput.json\n\n{table}\nMore.\n\n{table}\n"
    assert benchmarks_problems(text, results) == [
        f"section 'Synth', table 2 (| a | b |...): cites no record and does not say {NO_RECORD!r}"
    ]
    prose = "## Full\n\nCold cache: **947.1 s (15.8 min) in all**.\n"
    assert benchmarks_problems(prose, results) == [
        f"section 'Full', its figures: cites no record and does not say {NO_RECORD!r}"
    ]
    assert benchmarks_problems("## Goal\n\nAll four suites in under 2 minutes.\n", results) == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "something/1"}', "unknown kind of record"),
        ('{"format": "domainemb-bench-record/1", "area": "build", "name": "lite"}', "missing key 'command'"),
    ],
)
def test_a_broken_record_fails(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "build" / "lite.json"
    path.parent.mkdir()
    path.write_text(content)
    assert any(problem in p for p in record_problems(path))


def test_a_bench_record_in_the_wrong_place_or_without_provenance_fails(tmp_path: Path) -> None:
    good = json.loads((RESULTS / "build-benchmark" / "lite.json").read_text(encoding="utf-8"))
    path = tmp_path / "build-benchmark" / "lite.json"
    path.parent.mkdir()
    path.write_text(json.dumps(good))
    assert record_problems(path) == []
    moved = tmp_path / "synth" / "lite.json"
    moved.parent.mkdir()
    moved.write_text(json.dumps(good))
    assert record_problems(moved) == ["area/name build-benchmark/lite do not match the file's place"]
    path.write_text(json.dumps({**good, "git_commit": "unknown", "figures": {}}))
    assert record_problems(path) == ["git_commit 'unknown' is not a commit id", "no figures"]


def test_the_helper_writes_records_the_check_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    records = pytest.importorskip("records")
    monkeypatch.setattr("sys.argv", [str(REPO / "benchmarks" / "bench_build.py"), "--sizes", "lite"])
    run = records.start_run()
    path = records.write_record("build-benchmark", "lite", {"wall_s": 21.2}, run, root=tmp_path, packages=("polars",))
    assert path == tmp_path / "build-benchmark" / "lite.json"
    assert record_problems(path) == []
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["command"] == "python benchmarks/bench_build.py --sizes lite"
    assert record["packages"]["polars"] and record["machine"]["cores"] >= 1
    assert not list(tmp_path.rglob(".*.tmp"))  # written atomically, nothing left beside it
