"""Issue 20, part 4: what a re-run costs when every result is kept, against the path that loads first.

Both are measured in one run, each in a fresh process, alternating, on the same results folder:

* ``kept``: ``domainemb evaluate`` as a user runs it: the kept results are found without loading
  any model (the fingerprint is remembered, no task file is read, torch and mteb are not imported);
* ``load-first``: the path before this change: load every model, import mteb, verify every task
  file of the benchmark, then find the kept results.

    python benchmarks/bench_kept.py --benchmark work/benchmarks/finance-lite \\
        --task OpenStaxFinanceGlossaryRetrieval --model bm25 --model minilm

Writes ``benchmarks/results/evaluate/kept-rerun.json``.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", type=Path, required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--records", type=Path, default=RESULTS)
    args = parser.parse_args()
    run = start_run()
    out = Path(tempfile.mkdtemp(prefix="bench-kept-"))
    cli = [sys.executable, "-m", "domainemb.cli.main", "evaluate", "--benchmark", str(args.benchmark)]
    cli += [a for m in args.model for a in ("--model", m)] + ["--tasks", args.task, "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(cli, check=True, capture_output=True)  # the cold run that the others keep
    cold = time.perf_counter() - started
    times: dict[str, list[float]] = {"kept": [], "load-first": []}
    for _ in range(args.repeats):
        for name, command in (
            ("kept", cli),
            ("load-first", [sys.executable, "-c", LOAD_FIRST, str(args.benchmark), str(out), args.task, *args.model]),
        ):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            times[name].append(time.perf_counter() - started)
            if done.returncode != 0 or (name == "kept" and "(kept)" not in done.stdout):
                sys.exit(f"{name} failed: {done.stderr[-2000:]}")
    figures = {
        "benchmark": str(args.benchmark),
        "task": args.task,
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


if __name__ == "__main__":
    main()
