"""Our MTEB-named tasks against mteb's published all-MiniLM-L6-v2 scores (issue 17). A script, not a test.

Every task of the general suite that carries an MTEB task's name, or says "as MTEB", must reproduce
mteb's published all-MiniLM-L6-v2 main score to within 0.005. The references, each with the results
file and mteb version it was read from, are in ``tests/mteb_references.json``. This script scores
them all on the ``--size full`` general suite (the lite suite caps rows, so it is not comparable),
as ``domainemb evaluate --model minilm`` does, and writes a run record. The cheap tasks (STS) are
also checked in the default test run; the others by ``pytest -m reference tests/test_mteb_reference.py``
(one task built at a time) or by this script.

Usage::

    python benchmarks/bench_reference.py --work work/bench-reference [--benchmark work/benchmarks/general-full]

Writes ``benchmarks/results/reference/minilm-general-full.json`` (``--record``) and prints a
Markdown table; exits 1 when a task is outside the tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from records import start_run, write_record

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

REPO = Path(__file__).resolve().parents[1]
REFERENCES = REPO / "tests" / "mteb_references.json"
RECORD = REPO / "benchmarks" / "results" / "reference" / "minilm-general-full.json"


def _full_general_suite(benchmark: Path | None, work: Path) -> Path:
    """The given full general suite, or one built once under WORK/benchmarks."""
    from domainemb.domains.benchmark import Benchmark
    from domainemb.domains.build import BuildConfig, build_benchmark
    from domainemb.types import Domain, Size

    out = benchmark or work / "benchmarks" / "general-full"
    if not (out / "manifest.json").is_file():
        if benchmark is not None:
            sys.exit(f"{benchmark} is not a built benchmark")
        build_benchmark(BuildConfig(domain=Domain.GENERAL, out=out, size=Size.FULL))
    manifest = Benchmark.open(out).manifest
    if (manifest.domain, manifest.size) != ("general", "full"):
        sys.exit(f"{out} is the {manifest.size} {manifest.domain} suite; the references need the full general suite")
    return out


def run(work: Path, benchmark: Path | None, tasks: list[str], batch_size: int) -> dict[str, Any]:
    import mteb

    import domainemb
    from domainemb.evaluation.run import EvaluateConfig, evaluate

    references = json.loads(REFERENCES.read_text(encoding="utf-8"))
    names = tasks or list(references["tasks"])
    unknown = sorted(set(names) - set(references["tasks"]))
    if unknown:
        sys.exit(f"no reference for {', '.join(unknown)} in {REFERENCES}")
    bench = _full_general_suite(benchmark, work)
    config = EvaluateConfig(
        benchmark=bench,
        models=("minilm",),
        tasks=tuple(names),
        out=work / "results",
        overwrite=True,
        batch_size=batch_size,
        cache=work / "embeddings.sqlite",
    )
    start = time.perf_counter()
    result = evaluate(config)
    tolerance = references["tolerance"]
    rows = {}
    for score in result.scores:
        ref = references["tasks"][score.task]
        difference = score.main_score - ref["main_score"]
        rows[score.task] = {
            "main_score_name": score.main_score_name,
            "ours": round(score.main_score, 6),
            "reference": ref["main_score"],
            "difference": round(difference, 6),
            "within_tolerance": abs(difference) <= tolerance,
            "reference_task": ref["mteb_task"],
            "reference_file": ref["file"],
            "reference_results_commit": ref["results_commit"],
            "reference_mteb_version": ref["mteb_version"],
            "wall_time_s": score.provenance.wall_time_s,
        }
    first = result.scores[0].provenance
    return {
        "format": "domainemb-bench-reference/1",
        "model": first.model_name,
        "model_fingerprint": first.model_fingerprint,
        "benchmark_checksum": first.benchmark_checksum,
        "suite": "general (full)",
        "seed": first.seed,
        "tolerance": tolerance,
        "domainemb_version": domainemb.__version__,
        "mteb_version": mteb.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "wall_time_s": round(time.perf_counter() - start, 1),
        "tasks": rows,
        "not_stored": references["not_stored"],
    }


def markdown(record: dict[str, Any]) -> str:
    lines = ["| task | ours | mteb published | difference | within 0.005 |", "|---|---|---|---|---|"]
    for name, row in record["tasks"].items():
        ok = "yes" if row["within_tolerance"] else "**no**"
        lines.append(f"| {name} | {row['ours']:.4f} | {row['reference']:.4f} | {row['difference']:+.4f} | {ok} |")
    lines += [f"| {name} | | not stored | | |" for name in record["not_stored"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("work/bench-reference"), help="working folder")
    parser.add_argument("--benchmark", type=Path, help="an already built --size full general suite")
    parser.add_argument("--tasks", nargs="*", default=[], help="only these referenced tasks (default: all)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--record", type=Path, default=RECORD, help="where the run record goes")
    args = parser.parse_args()
    started = start_run()
    record = run(args.work, args.benchmark, args.tasks, args.batch_size)
    # the provenance keys of every run record (command, commit, date, machine, packages) join this layout
    write_record(
        "reference",
        args.record.stem,
        None,
        started,
        body=record,
        path=args.record,
        packages=("mteb", "sentence-transformers", "transformers", "scikit-learn"),
    )
    print(markdown(record))
    print(f"\nrecord: {args.record}")
    if not all(row["within_tolerance"] for row in record["tasks"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
