"""Speed figures of `domainemb build-benchmark` (issue 2). A script, not a test: it runs the real
command and saves numbers.

Builds the four suites (finance, chemistry, medicine, general) one after another with the CLI, as
a user would, and times each build: wall time and the CPU time of the build process (user and
system, from ``getrusage`` of the finished child). Every build starts the CLI anew, reads and
verifies (sha256) every source file and parses it; ``lite`` adds BM25 hard-distractor mining for
the large retrieval corpora. Goal: all four suites in ``lite`` in under 2 minutes.

Usage::

    python benchmarks/bench_build.py --work work/bench-build [--sizes lite full] [--records benchmarks/results]

The built suites go under ``WORK/SIZE/DOMAIN`` and are removed first, so every run builds from
scratch. One record per size: ``RECORDS/build-benchmark/SIZE.json`` (see ``benchmarks/records.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from records import RESULTS, start_run, write_record

DOMAINS = ("finance", "chemistry", "medicine", "general")
DOMAINEMB = str(Path(sys.executable).parent / "domainemb")
TARGET_LITE_S = 120.0


def build_all(work: Path, size: str) -> dict[str, Any]:
    """Build every suite at ``size`` under ``WORK/SIZE`` with the CLI; time each build."""
    root = work / size
    shutil.rmtree(root, ignore_errors=True)
    per_suite: dict[str, Any] = {}
    total_start = time.perf_counter()
    for domain in DOMAINS:
        out = root / domain
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [DOMAINEMB, "build-benchmark", domain, "--size", size, "--out", str(out)],
            capture_output=True,
            text=True,
            env={**os.environ, "TQDM_DISABLE": "1"},
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(
                f"build-benchmark {domain} --size {size} failed ({done.returncode}): {done.stderr.strip()}"
            )
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        per_suite[domain] = {
            "tasks": len(manifest["tasks"]),
            "wall_s": round(wall, 1),
            "cpu_user_s": round(after.ru_utime - before.ru_utime, 1),
            "cpu_system_s": round(after.ru_stime - before.ru_stime, 1),
        }
    wall_total = time.perf_counter() - total_start
    figures: dict[str, Any] = {
        "size": size,
        "suites": list(DOMAINS),
        "tasks": sum(s["tasks"] for s in per_suite.values()),
        "wall_s": round(wall_total, 1),
        "cpu_user_s": round(sum(s["cpu_user_s"] for s in per_suite.values()), 1),
        "cpu_system_s": round(sum(s["cpu_system_s"] for s in per_suite.values()), 1),
        "per_suite": per_suite,
    }
    if size == "lite":
        figures["target_s"] = TARGET_LITE_S
        figures["target_met"] = wall_total < TARGET_LITE_S
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("work/bench-build"))
    parser.add_argument("--sizes", nargs="+", default=["lite", "full"], choices=["lite", "full"])
    parser.add_argument("--records", type=Path, default=RESULTS, help="Results folder the records go to.")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        run = start_run()
        figures = build_all(args.work, size)
        path = write_record(
            "build-benchmark", size, figures, run, root=args.records, packages=("polars", "pyarrow", "bm25s")
        )
        print(
            f"| all four, `{size}` | {figures['tasks']} | {figures['wall_s']} s | {figures['cpu_user_s']} s user "
            f"| {run.load_average} → {os.getloadavg()} | record: {path} |"
        )


if __name__ == "__main__":
    main()
