"""Run records of the benchmark scripts: one small JSON file per measured figure, committed under
``benchmarks/results/<area>/<name>.json`` so that every number in BENCHMARKS.md traces to a file.

A record holds the figures a script measured and how they were measured: the command line, the
git commit of the tree it ran on (and whether that tree had uncommitted changes), the UTC date,
the machine (CPU model, cores, memory, load average before and after) and the versions of the
packages that decide the numbers. Never model weights or embeddings: figures only.

Every bench script writes through :func:`write_record`; none builds its own envelope::

    from records import start_run, write_record

    run = start_run()
    figures = measure()
    write_record("evaluate", "bm25", figures, run, packages=("bm25s", "rank-bm25", "mteb"))

The layout of a record (format ``domainemb-bench-record/1``)::

    {"format", "area", "name", "command", "git_commit", "git_dirty", "date", "wall_time_s",
     "machine": {"cpu_model", "cores", "memory_gb", "platform", "python", "niceness",
                 "load_average_start", "load_average_end", ...}, "packages": {name: version or null}, "figures": {...}}

A script whose record has its own documented layout (``bench_reference.py``) passes ``body``
instead of ``figures``: its keys are kept and the same provenance keys are added beside them.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from domainemb.atomic import write_atomic

REPO = Path(__file__).resolve().parents[1]
#: Where records are committed; every bench script's ``--records`` defaults to it.
RESULTS = REPO / "benchmarks" / "results"
FORMAT = "domainemb-bench-record/1"
#: Keys every record of :data:`FORMAT` carries (``tests/test_benchmark_records.py`` checks them).
PROVENANCE_KEYS = ("command", "git_commit", "git_dirty", "date", "wall_time_s", "machine", "packages")
#: Packages recorded by default; a script adds the ones its figures depend on.
BASE_PACKAGES = ("domainemb", "torch", "numpy")


@dataclass(frozen=True)
class RunStart:
    """What is known when a measurement starts: the date, the clock and the load average."""

    date: str
    clock: float
    load_average: list[float] | None


def start_run() -> RunStart:
    """Note the start of a measurement (call it just before the work the record times)."""
    return RunStart(
        date=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        clock=time.perf_counter(),
        load_average=_load_average(),
    )


def write_record(
    area: str,
    name: str,
    figures: dict[str, Any] | None,
    run: RunStart,
    *,
    root: Path | None = None,
    packages: tuple[str, ...] = (),
    body: dict[str, Any] | None = None,
    path: Path | None = None,
) -> Path:
    """Write one run record as ``ROOT/AREA/NAME.json`` (atomically) and return its path.

    Args:
        area: The folder under ``root``: the stage the figures belong to (``evaluate``, ``synth``,
            ``build-benchmark``, ``prune``, ``adapt``, ``reference``).
        name: The record's file name without ``.json`` (the figure, e.g. ``bm25``).
        figures: The measured numbers, JSON-serialisable; stored under ``"figures"``.
        run: From :func:`start_run`, taken when the measurement began.
        root: The results folder (default: ``benchmarks/results`` of this repository).
        packages: Distribution names whose versions matter for these figures, beside
            :data:`BASE_PACKAGES`. A package that is not installed is recorded as ``null``.
        body: Instead of ``figures``: a whole record with its own ``format`` and keys, to which
            the provenance keys are added.
        path: Write exactly here instead of ``ROOT/AREA/NAME.json``.

    Returns:
        The path of the record.
    """
    if (figures is None) == (body is None):
        raise ValueError("give exactly one of figures and body")
    provenance = {
        "command": _command(),
        **_git(),
        "date": run.date,
        "wall_time_s": round(time.perf_counter() - run.clock, 1),
        "machine": machine(run),
        "packages": package_versions((*BASE_PACKAGES, *packages)),
    }
    if body is not None:
        record = {**body, **provenance}
    else:
        record = {"format": FORMAT, "area": area, "name": name, **provenance, "figures": figures}
    target = path or (root or RESULTS) / area / f"{name}.json"
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    write_atomic(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return target


def machine(run: RunStart | None = None) -> dict[str, Any]:
    """The machine the figures were measured on, with the load average before and after."""
    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "niceness": os.nice(0),  # `nice -n 19` on a shared machine: other jobs get the cores first
    }
    torch = sys.modules.get("torch")  # only when the script used torch: importing it here costs seconds
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
    if run is not None:
        info["load_average_start"] = run.load_average
    info["load_average_end"] = _load_average()
    return info


def package_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions of these distributions (``None`` for one that is not installed)."""
    versions: dict[str, str | None] = {}
    for name in dict.fromkeys(names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _command() -> str:
    """The command line as it was typed, relative to the repository where possible."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(REPO)
    except ValueError:
        pass
    return shlex.join(["python", str(script), *sys.argv[1:]])


def _git() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if changes is None else bool(changes)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
