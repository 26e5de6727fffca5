"""Print the issue-6 quality table from the runs of ``benchmarks/adapt_quality.sh`` (markdown).

    python benchmarks/adapt_figures.py WORK RUN [RUN ...]

Reads WORK/<run>/comparison.json and adapt.json (written by ``domainemb adapt``); nothing is
computed here beyond means and differences of the scores those files hold.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def row(folder: Path) -> str:
    comparison = json.loads((folder / "comparison.json").read_text(encoding="utf-8"))
    record = json.loads((folder / "adapt.json").read_text(encoding="utf-8"))
    domain, general = comparison["suites"]["domain"], comparison["suites"]["general"]
    retrieval = [t for t in domain["tasks"] if t["type"] == "Retrieval"]
    ndcg_base = _mean([t["base"] for t in retrieval])
    ndcg_adapted = _mean([t["adapted"] for t in retrieval])
    d, g = domain["overall"], general["overall"]
    data, training = record["data"], record["training"]
    memory = record["peak_memory_mb"]
    gpu = f", GPU {memory['gpu'] / 1024:.1f} GB" if memory.get("gpu") else ""
    return (
        f"| {folder.name} | {data['train_pairs']} / {data['dev_pairs']} | {training['steps']} "
        f"| {training['dev_score_before']:.4f} → {training['dev_score_after']:.4f} "
        f"| {ndcg_base:.4f} → {ndcg_adapted:.4f} (**{100 * (ndcg_adapted - ndcg_base):+.2f}**, {len(retrieval)} tasks) "
        f"| {d['base']:.4f} → {d['adapted']:.4f} ({100 * d['delta']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]) "
        f"| {g['base']:.4f} → {g['adapted']:.4f} ({100 * g['delta']:+.2f} [{100 * g['low']:+.2f}, {100 * g['high']:+.2f}]) "
        f"| {training['seconds']:.0f} s / {record['wall_time_s']:.0f} s | RSS {memory['rss'] / 1024:.1f} GB{gpu} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    print(
        "| run | train / dev pairs | steps | dev nDCG@10 | domain retrieval nDCG@10 (Δ points) "
        "| domain suite mean (Δ points [95% CI]) | general suite mean (Δ points [95% CI]) "
        "| training / whole run | peak memory |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        print(row(args.work / run))


if __name__ == "__main__":
    main()
