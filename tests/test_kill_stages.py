"""``kill -9`` of every long stage at seeded points, then the same command again: nothing lost, nothing
done twice, no partial file left, and the result of an uninterrupted run.

Each stage runs as a real ``domainemb`` process (``tests/kill_data.py``) that SIGKILLs itself at an
exact call of the stage's own code, drawn with a seeded :class:`random.Random` from the points where a
kill costs most: inside a task's write or between the renames of a benchmark swap (build-benchmark),
before, after or in the middle of an append to the generation log, or in the final write (synth),
inside a checkpoint save (adapt), after a stage-cache entry (prune). The re-run happens in this
process, with probes counting the work it does. ``DOMAINEMB_KILL_SEED`` draws other points (the
default is fixed, so CI kills at the same points every time).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest
from kill_data import assert_killed, hidden_leftovers, record_calls, run_stage, traced, tree_bytes
from typer.testing import CliRunner

from domainemb.cli.main import app

SEED = int(os.environ.get("DOMAINEMB_KILL_SEED", "17"))
runner = CliRunner()


def _draw(stage: str, choices: list):
    return random.Random(f"{SEED}-{stage}").choice(choices)


def _invoke(argv: list[str]) -> None:
    result = runner.invoke(app, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output


# ----------------------------------------------------------------------------- build-benchmark
ONLY_USER_TASKS = "import domainemb.domains.build as b; b.domain_tasks = lambda domain: ()"
BUILD_KILLS = [
    ("in a task's write", {"target": "domainemb.domains.build:_write_task", "nth": 2, "when": "before"}),
    ("after a task's write", {"target": "domainemb.domains.build:_write_task", "nth": 3, "when": "after"}),
    ("between the swap's renames", {"target": "domainemb.atomic:os.rename", "nth": 1, "when": "after"}),
]


@pytest.fixture
def user_tasks(tmp_path) -> list[Path]:
    from test_beir_folders import fiqa_folder

    folders = []
    for name in ("fiqa-a", "fiqa-b", "fiqa-c"):
        folder = fiqa_folder(tmp_path / "tasks" / name)
        folders.append(folder.rename(folder.parent / name))
    return folders


@pytest.mark.parametrize("rebuild", [False, True], ids=["first build", "rebuild"])
def test_build_benchmark(tmp_path, user_tasks, rebuild, monkeypatch):
    import domainemb.domains.build as build
    from domainemb.domains.benchmark import Benchmark

    monkeypatch.setattr(build, "domain_tasks", lambda domain: ())
    # a first build has no old benchmark to rename aside
    point, kill = _draw(f"build-{rebuild}", BUILD_KILLS if rebuild else BUILD_KILLS[:2])
    work = tmp_path / "work"
    work.mkdir()
    out = work / "bench"
    argv = ["build-benchmark", "finance", *[a for t in user_tasks for a in ("--task", str(t))], "--out", str(out)]
    _invoke([*argv[:-1], str(tmp_path / "reference")])
    reference = tree_bytes(tmp_path / "reference")
    if rebuild:
        _invoke(argv)

    proc, _ = run_stage(tmp_path, argv, kill=kill, setup=ONLY_USER_TASKS)
    assert_killed(proc)
    assert [p for p in hidden_leftovers(work) if ".building-" in p], "the kill left no staging folder to clean"
    if rebuild and point != "between the swap's renames":
        assert tree_bytes(out) == reference  # the previous benchmark is untouched
    elif not rebuild:
        assert not out.exists()
    _invoke(argv)
    assert tree_bytes(out) == reference, point
    assert hidden_leftovers(work) == [], point
    Benchmark.open(out)


# ----------------------------------------------------------------------------- synth
APPEND = "domainemb.synth.pairs:AppendLog.append"
#: The key of every item generated (ict: no LLM, deterministic), as its record goes into the generation log.
GENERATED = (APPEND, "lambda _, log, record: record['key'] if log.path.name.endswith('.raw.jsonl') else None")
SYNTH_KILLS = [
    ("before an append", {"target": APPEND, "nth": 9, "when": "before"}),
    ("after an append", {"target": APPEND, "nth": 14, "when": "after"}),
    ("inside an append (torn line)", {"target": APPEND, "nth": 11, "when": "torn"}),
    ("in the final write", {"target": "domainemb.atomic:os.replace", "nth": 1, "when": "before"}),
]


def _synth_argv(tmp_path: Path, out: Path) -> list[str]:
    from synth_data import retrieval_benchmark, write_corpus

    corpus, bench = tmp_path / "corpus", tmp_path / "bench"
    if not corpus.exists():
        write_corpus(corpus, docs=4, sentences=12)
        retrieval_benchmark(bench, ["an unrelated test document about enzymes and catalysis"], ["what is an enzyme"])
    return [
        "synth", "--domain", "finance", "--corpus", str(corpus), "--out", str(out), "--benchmark", str(bench),
        "--generator", "ict", "--per-chunk", "2", "--chunk-tokens", "40", "--chunk-overlap", "8",
        "--negatives", "0", "--consistency-top-k", "0", "--near-duplicate", "1.0",
    ]  # fmt: skip


def test_synth(tmp_path, monkeypatch):
    from synth_data import read_jsonl

    from domainemb.pairs import read_pairs

    point, kill = _draw("synth", SYNTH_KILLS)
    reference = tmp_path / "reference" / "pairs.jsonl"
    _invoke(_synth_argv(tmp_path, reference))
    planned = [r["key"] for r in read_jsonl(reference.with_name("pairs.raw.jsonl"))]

    out = tmp_path / "run" / "pairs.jsonl"
    raw = out.with_name("pairs.raw.jsonl")
    proc, trace = run_stage(tmp_path, _synth_argv(tmp_path, out), probes={"generated": GENERATED}, kill=kill)
    assert_killed(proc)
    (first,) = ([k for k in keys if k] for keys in traced(trace, "generated").values())
    at_kill = raw.read_bytes()
    whole = at_kill[: at_kill.rfind(b"\n") + 1]  # the lines written in full before the kill
    logged = [json.loads(line)["key"] for line in whole.splitlines()]
    assert logged == first, point  # every record appended before the kill is in the log, whole
    assert (whole != at_kill) == (kill["when"] == "torn"), point
    if point == "in the final write":  # generation was complete; the pairs file was being written
        assert logged == planned and [p for p in hidden_leftovers(out.parent) if p.startswith(".pairs.jsonl.")]
    assert not out.exists()

    appended = record_calls(monkeypatch, *GENERATED)
    _invoke(_synth_argv(tmp_path, out))
    generated = [key for key in appended if key]
    after = raw.read_bytes()
    assert after.startswith(whole), point  # the log keeps every line written before the kill
    assert not set(generated) & set(logged), point  # nothing logged before the kill is generated again
    keys = Counter(r["key"] for r in read_jsonl(raw))
    assert sorted(keys) == sorted(planned) and max(keys.values()) == 1, point  # nothing lost, nothing twice
    assert sorted(generated) == sorted(set(planned) - set(logged)), point
    card = json.loads(out.with_name("pairs.card.json").read_text())
    assert card["items"]["resumed"] == len(logged) and card["items"]["planned"] == len(planned)
    assert read_pairs(out, strict=True).pairs == read_pairs(reference, strict=True).pairs
    assert hidden_leftovers(out.parent) == [], point
