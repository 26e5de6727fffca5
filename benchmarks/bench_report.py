"""The last steps of a published report, timed and recorded (issues 18-20). A script, not a test.

A published page (``reports/<domain>/``) comes from ``domainemb compare`` over many hours of scoring,
resumed across sessions: every scored task is kept in the compare folder. This script runs what is
left, as ``make reports`` does for one domain, and records it:

1. ``--fresh-costs`` removes the kept cost records (``COMPARE/costs``) and the kept analysis
   (``COMPARE/kept.json``), so that every model's throughput is measured again in this run, on the
   machine as it is now (run it idle); the scores are still read from the kept task results;
2. ``domainemb compare DOMAIN --model ... --size lite --out COMPARE --no-report`` (kept tasks are
   not scored again; what is missing is);
3. ``domainemb report COMPARE --out OUT --site-index``.

The record (``RECORDS/compare/report-<domain>.json``) holds the two steps' wall times, each model's
scoring time as its task results recorded it (summed per suite; those tasks were scored in earlier
runs, under the loads of their sessions, and say so), the domain and general means, and the cost
table of the page: throughput, parameters, size on disk, bytes per vector and the quantized scores.

Usage::

    python benchmarks/bench_report.py finance --compare work/compare/finance-lite --out reports/finance \\
        --model minilm --model mpnet --model glove --model work/models/minilm-finance \\
        --model work/models/minilm-finance-pruned --fresh-costs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from records import RESULTS, start_run, write_record

PACKAGES = ("sentence-transformers", "transformers", "mteb", "scikit-learn", "bm25s")


def _run(cmd: list[str]) -> float:
    print("$ " + " ".join(cmd), file=sys.stderr)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return round(time.perf_counter() - start, 1)


def scoring_times(compare: Path) -> dict[str, dict[str, Any]]:
    """Per model and suite: tasks, summed ``wall_time_s`` and the dates they were scored, from the results."""
    out: dict[str, dict[str, Any]] = {}
    for suite in ("domain", "general"):
        for path in sorted((compare / suite / "results").glob("*/*/*.json")):
            if path.name == "model_meta.json":
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            prov = data.get("domainemb") or {}
            # keyed by the results folder (mteb's model name, "/" as "__"): a kept task may have been scored
            # under another path of the same weights (the fingerprint decides)
            row = out.setdefault(path.parts[-3], {}).setdefault(suite, {"tasks": 0, "seconds": 0.0, "dates": []})
            row["tasks"] += 1
            row["seconds"] = round(row["seconds"] + float(prov.get("wall_time_s") or 0.0), 1)
            if data.get("date"):  # mteb's: seconds since the epoch
                row["dates"].append(datetime.fromtimestamp(float(data["date"]), UTC).isoformat(timespec="seconds"))
    for suites in out.values():
        for row in suites.values():
            dates = sorted(row.pop("dates"))
            row["scored_between"] = [dates[0], dates[-1]] if dates else []
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("domain")
    parser.add_argument("--compare", type=Path, required=True, help="The compare folder (kept tasks are reused).")
    parser.add_argument("--out", type=Path, required=True, help="Where the page goes (reports/<domain>).")
    parser.add_argument("--model", action="append", required=True, help="As `domainemb compare --model`.")
    parser.add_argument("--fresh-costs", action="store_true", help="Measure every model's cost again.")
    parser.add_argument("--records", type=Path, default=RESULTS, help="Results folder the run record goes to.")
    args = parser.parse_args()

    from domainemb.compare.analysis_file import ANALYSIS_FILE, Analysis
    from domainemb.compare.kept import COSTS_DIR, KEPT_FILE

    run = start_run()
    cli = str(Path(sys.executable).with_name("domainemb"))
    if args.fresh_costs:  # without the kept analysis too, the run would keep the whole analysis, costs included
        shutil.rmtree(args.compare / COSTS_DIR, ignore_errors=True)
        (args.compare / KEPT_FILE).unlink(missing_ok=True)
    models = [a for m in args.model for a in ("--model", m)]
    compare_s = _run(
        [cli, "compare", args.domain, *models, "--size", "lite", "--out", str(args.compare), "--no-report"]
    )
    report_s = _run([cli, "report", str(args.compare), "--out", str(args.out), "--site-index"])
    analysis = Analysis.from_disk(args.compare / ANALYSIS_FILE)
    stats = analysis.statistics.to_dict()
    figures: dict[str, Any] = {
        "domain": args.domain,
        "models_given": args.model,
        "fresh_costs": args.fresh_costs,
        "compare_s": compare_s,
        "report_s": report_s,
        "torch_threads_env": os.environ.get("OMP_NUM_THREADS", ""),
        "means": stats["means"],
        "gaps": stats["gaps"],
        "scoring_times": scoring_times(args.compare),
        "costs": analysis.costs.to_dict() if analysis.costs is not None else None,
        "origins": {name: origin.to_dict() for name, origin in analysis.origins.items()},
    }
    record = write_record("compare", f"report-{args.domain}", figures, run, root=args.records, packages=PACKAGES)
    print(f"record: {record}", file=sys.stderr)
    print(json.dumps({k: figures[k] for k in ("compare_s", "report_s", "means")}, indent=2))


if __name__ == "__main__":
    main()
