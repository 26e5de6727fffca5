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

import os
import random
from pathlib import Path

import pytest
from kill_data import assert_killed, hidden_leftovers, run_stage, tree_bytes
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
