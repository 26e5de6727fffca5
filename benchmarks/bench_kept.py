"""Issue 20, part 4: what a re-run costs when every result is kept, against the path that loads first.

Both are measured in one run, each in a fresh process, alternating, on the same results folder.

``--stage evaluate`` (the default):

* ``kept``: ``domainemb evaluate`` as a user runs it: the kept results are found without loading
  any model (the fingerprint is remembered, no task file is read, torch and mteb are not imported);
* ``load-first``: the path before this change: load every model, import mteb, verify every task
  file of the benchmark, then find the kept results.

``--stage compare``:

* ``kept``: ``domainemb compare`` as a user runs it (report included): the kept analysis is found
  from the two manifests, the remembered fingerprints and the result files; no model is loaded,
  no task data read, nothing measured;
* ``full``: the same command with the kept analysis and the kept cost records switched off (the
  path before this change): every model is loaded, every suite file verified, the kept scores
  (and the quantized variants' kept scores) read back, throughput measured again, the
  bootstrap intervals and the analysis redone.

    python benchmarks/bench_kept.py --benchmark work/benchmarks/finance-lite \\
        --task OpenStaxFinanceGlossaryRetrieval --model bm25 --model minilm
    python benchmarks/bench_kept.py --stage compare --benchmark work/benchmarks/finance-lite \\
        --general-benchmark work/benchmarks/general-lite \\
        --task OpenStaxFinanceGlossaryRetrieval --task WikiQARetrieval --model minilm

Writes ``benchmarks/results/evaluate/kept-rerun.json`` or ``benchmarks/results/compare/kept-rerun.json``.
The compare runs use a fresh ``DOMAINEMB_CACHE`` (so the cold run encodes everything, and no
other job's cache is touched).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from records import RESULTS, start_run, write_record

LOAD_FIRST = """
import sys
from pathlib import Path
import mteb  # noqa: F401  (imported by every task before the change)
from domainemb.domains.benchmark import Benchmark
from domainemb.evaluation.encoders import load_encoder
from domainemb.evaluation.run import EvaluateConfig, evaluate
bench, out, task, *models = sys.argv[1:]
Benchmark.open(bench)  # verifies every task file
encoders = {name: load_encoder(name) for name in models}
result = evaluate(EvaluateConfig(benchmark=Path(bench), models=tuple(models), tasks=(task,), out=Path(out)), encoders)
assert all(s.reused for s in result.scores), "not every result was kept"
"""


FULL_COMPARE = """
import sys
import domainemb.compare.run as run
from domainemb.compare.kept import CostRecords
run.find_kept = lambda config, encoders=None: None  # no kept analysis
CostRecords.find = lambda self, encoders: {}  # no kept cost: every model measured again
from domainemb.cli.main import app
sys.argv = ["domainemb", *sys.argv[1:]]
app()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("evaluate", "compare"), default="evaluate")
    parser.add_argument("--benchmark", type=Path, required=True, help="The (domain) benchmark.")
    parser.add_argument("--general-benchmark", type=Path, help="The general benchmark (--stage compare).")
    parser.add_argument("--task", action="append", required=True)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--records", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.stage == "compare":
        if args.general_benchmark is None:
            parser.error("--stage compare needs --general-benchmark")
        bench_compare(args)
    else:
        if len(args.task) != 1:
            parser.error("--stage evaluate times one --task")
        bench_evaluate(args)


def _time(
    paths: dict[str, tuple[list[str], str]], repeats: int, env: dict[str, str] | None = None
) -> dict[str, list[float]]:
    """Each path's wall times, alternating, in fresh processes; a path whose output lacks (or, with a
    leading ``!``, holds) its marker fails the run."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, (command, marker) in paths.items():
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            times[name].append(time.perf_counter() - started)
            wanted = not marker.startswith("!")
            if done.returncode != 0 or (marker.lstrip("!") in done.stdout) != wanted:
                sys.exit(f"{name} failed: {done.stdout[-1000:]}\n{done.stderr[-2000:]}")
    return times


def bench_evaluate(args: argparse.Namespace) -> None:
    run = start_run()
    (task,) = args.task
    out = Path(tempfile.mkdtemp(prefix="bench-kept-"))
    cli = [sys.executable, "-m", "domainemb.cli.main", "evaluate", "--benchmark", str(args.benchmark)]
    cli += [a for m in args.model for a in ("--model", m)] + ["--tasks", task, "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(cli, check=True, capture_output=True)  # the cold run that the others keep
    cold = time.perf_counter() - started
    load_first = [sys.executable, "-c", LOAD_FIRST, str(args.benchmark), str(out), task, *args.model]
    times = _time({"kept": (cli, "(kept)"), "load-first": (load_first, "")}, args.repeats)
    figures = {
        "benchmark": str(args.benchmark),
        "task": task,
        "models": args.model,
        "cold_run_s": round(cold, 2),
        "kept_s": [round(t, 2) for t in times["kept"]],
        "load_first_s": [round(t, 2) for t in times["load-first"]],
        "kept_median_s": round(statistics.median(times["kept"]), 2),
        "load_first_median_s": round(statistics.median(times["load-first"]), 2),
        "ratio": round(statistics.median(times["load-first"]) / statistics.median(times["kept"]), 2),
    }
    print(figures)
    write_record("evaluate", "kept-rerun", figures, run, root=args.records, packages=("mteb", "sentence-transformers"))


def bench_compare(args: argparse.Namespace) -> None:
    run = start_run()
    root = Path(tempfile.mkdtemp(prefix="bench-kept-compare-"))
    env = {**os.environ, "DOMAINEMB_CACHE": str(root / "cache")}
    flags = ["compare", "finance", "--domain-benchmark", str(args.benchmark)]
    flags += ["--general-benchmark", str(args.general_benchmark), "--out", str(root / "out")]
    flags += [a for m in args.model for a in ("--model", m)] + [a for t in args.task for a in ("--tasks", t)]
    cli = [sys.executable, "-m", "domainemb.cli.main", *flags]
    started = time.perf_counter()
    done = subprocess.run(cli, capture_output=True, text=True, env=env)  # the cold run that the others keep
    cold = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"cold run failed: {done.stderr[-2000:]}")
    full = [sys.executable, "-c", FULL_COMPARE, *flags]
    times = _time({"kept": (cli, "kept: every result"), "full": (full, "!kept: every result")}, args.repeats, env)
    figures = {
        "domain_benchmark": str(args.benchmark),
        "general_benchmark": str(args.general_benchmark),
        "tasks": args.task,
        "models": [*args.model, "bm25", "bow"],
        "cost_texts": 256,
        "cold_run_s": round(cold, 2),
        "kept_s": [round(t, 2) for t in times["kept"]],
        "full_rerun_s": [round(t, 2) for t in times["full"]],
        "kept_median_s": round(statistics.median(times["kept"]), 2),
        "full_rerun_median_s": round(statistics.median(times["full"]), 2),
        "ratio": round(statistics.median(times["full"]) / statistics.median(times["kept"]), 2),
        "goal_s": 2.0,
    }
    print(figures)
    write_record("compare", "kept-rerun", figures, run, root=args.records, packages=("mteb", "sentence-transformers"))


if __name__ == "__main__":
    main()
