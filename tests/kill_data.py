"""Run a stage's real CLI in a child process and ``kill -9`` it at a chosen point; trace what each process did.

The child is this file run as a script (``python tests/kill_data.py SPEC.json``). Before it hands
the command line to ``domainemb.cli.main``, it wraps a few functions of the stage's own code, named
``"module:attribute.path"``, as the spec says:

- a *probe* appends one JSON line ``{"pid", "probe", "value"}`` to the trace file after each call,
  ``value`` being a lambda (given as source) of the call's result and arguments: the steps a
  trainer ran and their losses, the keys a generator produced, the stages a run computed;
- the *kill* sends ``SIGKILL`` to the child itself at the ``nth`` call of its target, ``before``
  or ``after`` the call (or ``torn``: an :class:`~domainemb.synth.pairs.AppendLog` append that
  writes half its line first), so the point of the kill is exact and the test is not flaky. Nothing
  of the process runs after it: no ``finally``, no ``atexit``, no flush, as with an outside ``kill -9``.

The kill points of a test are drawn with a seeded :class:`random.Random`, so each run of the suite
kills at the same "random" points. ``setup`` is Python run first (e.g. to build only the user's
tasks). Extra ``sitecustomize`` breakage for proving a test can fail goes on ``PYTHONPATH``, which
the child inherits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def stage_command(
    tmp: Path,
    argv: list[str],
    *,
    probes: dict[str, tuple[str, str]] | None = None,
    kill: dict[str, Any] | None = None,
    setup: str = "",
    name: str = "run",
) -> tuple[list[str], Path]:
    """The child's command line, and the trace file it appends to.

    Args:
        tmp: A folder for the spec and the trace.
        argv: The ``domainemb`` arguments (``["adapt", "--base", ...]``).
        probes: ``{probe name: (target, "lambda result, *args, **kwargs: value")}``.
        kill: ``{"target": ..., "nth": n, "when": "before" | "after" | "torn"}``, or None to run to the end.
        setup: Python run in the child before the command.
        name: Names the spec file (several runs may share ``tmp``).
    """
    trace = tmp / "trace.jsonl"
    spec = {"argv": argv, "trace": str(trace), "probes": probes or {}, "kill": kill, "setup": setup}
    path = tmp / f"{name}.spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return [sys.executable, str(HERE), str(path)], trace


def run_stage(
    tmp: Path, argv: list[str], *, timeout: float = 300, **kwargs
) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the stage to its end or to its kill; see :func:`stage_command`."""
    command, trace = stage_command(tmp, argv, **kwargs)
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, trace


def assert_killed(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == -signal.SIGKILL, f"exit {proc.returncode}, not killed:\n{proc.stderr[-3000:]}"


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stderr[-3000:]}"


def traced(trace: Path, probe: str) -> dict[int, list[Any]]:
    """The values ``probe`` recorded, per process id, in the order of the calls (processes in start order)."""
    by_pid: dict[int, list[Any]] = defaultdict(list)
    if trace.exists():
        for line in trace.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["probe"] == probe:
                by_pid[row["pid"]].append(row["value"])
    return dict(by_pid)


def hidden_leftovers(folder: Path) -> list[str]:
    """Hidden files and folders directly in ``folder`` (staging folders, temporary files)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


def tree_bytes(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes (names in ``skip`` left out)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part in skip for part in p.relative_to(folder).parts)
    }


def record_calls(monkeypatch, target: str, value: str) -> list[Any]:
    """In this process: wrap ``target`` (as a probe does in the child) and return the list its values go to."""
    owner, attribute = _resolve(target)
    original, compute = getattr(owner, attribute), eval(value)
    seen: list[Any] = []

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        seen.append(compute(result, *args, **kwargs))
        return result

    monkeypatch.setattr(owner, attribute, wrapper)
    return seen


# ----------------------------------------------------------------------------- the child
def _resolve(target: str) -> tuple[Any, str]:
    import importlib

    module_name, _, path = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *parents, attribute = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    return owner, attribute


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(spec: dict[str, Any]) -> None:
    import functools

    trace_path = spec["trace"]
    by_target: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for probe, (target, value) in spec["probes"].items():
        by_target[target].append((probe, eval(value)))  # test code: the lambdas are the test's own
    kill = spec["kill"]
    if kill:
        by_target.setdefault(kill["target"], [])

    def record(probe: str, value: Any) -> None:
        line = json.dumps({"pid": os.getpid(), "probe": probe, "value": value}) + "\n"
        fd = os.open(trace_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    for target, probes in by_target.items():
        owner, attribute = _resolve(target)
        original = getattr(owner, attribute)
        stop = kill if kill and kill["target"] == target else None
        calls = [0]

        def wrapper(*args, __original=original, __probes=probes, __stop=stop, __calls=calls, **kwargs):
            __calls[0] += 1
            halt = __stop is not None and __calls[0] == __stop["nth"]
            if halt and __stop["when"] == "before":
                _die()
            if halt and __stop["when"] == "torn":  # AppendLog.append(self, record): half a line, then the kill
                from domainemb.pairs import jsonl_line

                log, row = args[0], args[1]
                line = jsonl_line(row).encode("utf-8")
                os.write(log._fd, line[: len(line) // 2])
                _die()
            result = __original(*args, **kwargs)
            for probe, value in __probes:
                record(probe, value(result, *args, **kwargs))
            if halt:
                _die()
            return result

        functools.update_wrapper(wrapper, original)
        setattr(owner, attribute, wrapper)


def _main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    exec(spec["setup"], {})  # noqa: S102 - the test's own setup code
    _install(spec)
    from domainemb.cli.main import app

    sys.argv = ["domainemb", *spec["argv"]]
    app()


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    _main(sys.argv[1])
