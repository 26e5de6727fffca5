"""How far each GAPrune DAI variant's mask is from magnitude pruning's (issue 19, the variant table).
A script, not a test: it runs the real command and saves numbers.

For one domain, on the calibration of a ``bench_prune.py`` work folder (its ``configs/DOMAIN.yaml``,
so the stage cache gives every variant the same calibration pairs and, for ``paper`` and
``normalized``, the same gradient moments; ``reference`` takes its own, over micro-batches of 8),
each variant runs as ``domainemb prune --method gaprune --no-eval`` into ``WORK/variants/DOMAIN/VARIANT``.
The table holds, per variant, the fraction of its pruned weights that magnitude pruning at the same
sparsity also prunes (the run's ``pruned_overlap_with_magnitude``), the mean size of each DAI term,
and the scoring time; and, where ``bench_prune.py`` has scored a run of that variant on the same
calibration (``WORK/runs/DOMAIN/gaprune-VARIANT-pairs`` one-shot, ``...-retrained-pairs`` retrained),
its Δ domain and Δ general. A finished variant run is kept; ``--report-only`` runs nothing.

One run record goes to ``RECORDS/prune/variants-DOMAIN.json`` (``--records``, default
``benchmarks/results``), and a Markdown table is printed.

Usage::

    python benchmarks/bench_prune_variants.py --work work/exp/p19m --domain medicine \\
        --pairs work/exp/m18/pairs.jsonl [--records work/exp/p19m/records] [--report-only]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench_prune import merge_config, prune_command, run_command
from records import RESULTS, start_run, write_record

VARIANTS = ("paper", "normalized", "reference")
#: bench_prune.py's runs on ``--pairs`` calibration, by variant: (one-shot run, retrained run).
SCORED_RUNS = {
    "paper": ("gaprune-paper-pairs", "gaprune-paper-retrained-pairs"),
    "normalized": ("gaprune-normalized-pairs", "gaprune-normalized-retrained-pairs"),
    "reference": ("gaprune-reference-pairs", "gaprune-reference-retrained-pairs"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="A bench_prune.py work folder.")
    parser.add_argument("--domain", required=True, choices=("finance", "chemistry", "medicine"))
    parser.add_argument("--pairs", type=Path, required=True, help="The --pairs file of that bench_prune.py run.")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--records", type=Path, default=RESULTS, help="Results folder the run record goes to.")
    parser.add_argument("--report-only", action="store_true", help="Only rebuild the table from existing runs.")
    args = parser.parse_args()
    work = args.work.resolve()
    base_config = work / "configs" / f"{args.domain}.yaml"
    if not base_config.is_file():
        parser.error(
            f"{base_config}: no such file (run bench_prune.py --work {args.work} --domains {args.domain} first)"
        )
    if not args.pairs.is_file():
        parser.error(f"--pairs {args.pairs}: no such file")

    started = start_run()
    rows: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        out = work / "variants" / args.domain / variant
        if not args.report_only and not (out / "prune_report.json").is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            config_path = merge_config(base_config, out.parent / f"{variant}.yaml", {"variant": variant})
            flags = ["--pairs", str(args.pairs.resolve()), "--no-eval"]
            run_command(prune_command(args.model, args.domain, "gaprune", args.sparsity, flags, out, config_path))
        if (out / "prune_report.json").is_file():
            rows[variant] = _row(json.loads((out / "prune_report.json").read_text()), work, args.domain, variant)
    figures = {"model": args.model, "sparsity": args.sparsity, "domain": args.domain, "variants": rows}
    write_record("prune", f"variants-{args.domain}", figures, started, root=args.records, packages=("torch",))
    print(_markdown(args.domain, rows))


def _row(report: dict[str, Any], work: Path, domain: str, variant: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "variant": report["variant"],
        "overlap_with_magnitude": report["diagnostics"].get("pruned_overlap_with_magnitude"),
        "diagnostics": report["diagnostics"],
        "ffn_sparsity": report["ffn_sparsity"],
        "calibration": {side: c["pairs"] for side, c in report["calibration"].items()},
        "moments_from_stage_cache": {
            side: c.get("reused_from_stage_cache", {}).get("moments") for side, c in report["calibration"].items()
        },
        "scoring_s": report["seconds"].get("scoring"),
        "hyperparameters": {k: report["hyperparameters"].get(k) for k in ("alpha", "beta", "gamma", "variant")},
    }
    for label, run in zip(("one_shot", "retrained"), SCORED_RUNS[variant], strict=True):
        path = work / "runs" / domain / run / "prune_report.json"
        if path.is_file():
            suites = json.loads(path.read_text()).get("suites", {})
            row[label] = {
                "run": run,
                "domain_change_pct": suites.get("domain", {}).get("relative_change_pct"),
                "general_change_pct": suites.get("general", {}).get("relative_change_pct"),
            }
    return row


def _markdown(domain: str, rows: dict[str, dict[str, Any]]) -> str:
    def change(row: dict[str, Any], label: str) -> str:
        scored = row.get(label)
        if not scored:
            return "not scored"
        return f"{scored['domain_change_pct']:+.2f}% / {scored['general_change_pct']:+.2f}%"

    lines = [
        f"| {domain}: GAPrune variant | pruned weights magnitude also prunes | one-shot Δ domain / general | retrained Δ domain / general |",
        "|---|---|---|---|",
    ]
    for variant, row in rows.items():
        overlap = row["overlap_with_magnitude"]
        lines.append(f"| {variant} | {100 * overlap:.4f}% | {change(row, 'one_shot')} | {change(row, 'retrained')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
