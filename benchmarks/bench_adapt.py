"""Quality figures of `domainemb adapt` (issue 6). A script, not a test: it runs the real commands and saves numbers.

Per domain (finance, chemistry, medicine) and per pair generator (``ict``, ``crop``, ``llm``):

1. ``domainemb build-benchmark DOMAIN`` and ``general`` (lite), once, under ``WORK/benchmarks``;
2. ``domainemb export-corpus --domain DOMAIN``: the domain's training-side texts only (never its
   benchmark test side), once per domain;
3. ``domainemb synth --generator GEN``: pairs from that corpus, decontaminated against the lite
   suite's test queries and documents;
4. ``domainemb adapt --base minilm``: fine-tune, then score base and adapted model on the domain and
   general lite suites (``comparison.json``, ``adapt.json``).

Every command is printed before it runs and collected in ``WORK/figures.json``, with the change in
nDCG@10 on the domain's retrieval tasks, in the domain suite's mean main score and in the general
suite's mean, each with its bootstrap interval, plus adapt's wall time and peak memory. The goal
(issue 6): at least +5 nDCG@10 points on domain retrieval with at most 1 point lost on general.

Usage::

    python benchmarks/bench_adapt.py --work work/bench-adapt [--domains finance chemistry medicine]
        [--generators ict crop llm] [--limit 20000] [--config adapt.yaml] [--quick]

Besides ``WORK/figures.json``, the figures and commands go to a run record,
``RECORDS/adapt/bench-adapt.json`` (``quick.json`` for ``--quick``; ``--records`` defaults to
``benchmarks/results``; see ``benchmarks/records.py``).

``--quick`` is a smoke run (a few hundred pairs, 20 steps, one retrieval task per suite); its
numbers mean nothing. ``--generators llm`` starts the local SmolLM2 server through ``synth`` (see
README) and is slow on CPU; give ``--llm-limit`` to cap it separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from records import RESULTS, start_run, write_record

DOMAINS = ("finance", "chemistry", "medicine")
GENERATORS = ("ict", "crop", "llm")
DOMAINEMB = str(Path(sys.executable).parent / "domainemb")

#: Hyper-parameters for minilm on a few CPU cores (AdaptConfig fields; see README).
DEFAULT_CONFIG = {
    "loss": "mnrl",
    "epochs": 1.0,
    "batch_size": 32,
    "learning_rate": 2.0e-5,
    "max_seq_length": 128,
    "hard_negatives": 1,
    "eval_steps": 100,
    "dev_fraction": 0.05,
    "max_dev_queries": 300,
}
QUICK_CONFIG = {**DEFAULT_CONFIG, "max_steps": 20, "eval_steps": 10, "batch_size": 16}


def run(command: list[str], log: list[dict[str, Any]]) -> float:
    """Run one command (output streamed), record it and its wall time; stop the script if it fails."""
    line = shlex.join(command)
    print(f"\n$ {line}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, "TQDM_DISABLE": "1"})
    seconds = time.perf_counter() - start
    log.append({"command": line, "seconds": round(seconds, 1), "returncode": done.returncode})
    if done.returncode != 0:
        raise SystemExit(f"command failed ({done.returncode}): {line}")
    return seconds


def first_retrieval_task(benchmark: Path) -> str:
    manifest = json.loads((benchmark / "manifest.json").read_text(encoding="utf-8"))
    return next(t["name"] for t in manifest["tasks"] if t["type"] == "Retrieval")


def bench_domain(
    domain: str, generators: list[str], args: argparse.Namespace, log: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    import yaml

    work: Path = args.work
    benchmarks = work / "benchmarks"
    suites = {name: benchmarks / f"{name}-lite" for name in (domain, "general")}
    for name, path in suites.items():
        if not (path / "manifest.json").is_file():
            run([DOMAINEMB, "build-benchmark", name, "--size", "lite", "--out", str(path)], log)
    corpus = work / "corpus" / domain
    if not (corpus / ".export.json").is_file():
        run([DOMAINEMB, "export-corpus", "--domain", domain, "--out", str(corpus)], log)

    figures = []
    for generator in generators:
        pairs = work / "synth" / f"{domain}-{generator}" / "pairs.jsonl"
        limit = args.llm_limit if generator == "llm" and args.llm_limit else args.limit
        synth = [
            DOMAINEMB,
            "synth",
            "--domain",
            domain,
            "--corpus",
            str(corpus),
            "--out",
            str(pairs),
            "--generator",
            generator,
        ]
        synth += ["--benchmark", str(suites[domain]), "--seed", str(args.seed)]
        if limit:
            synth += ["--limit", str(limit)]
        synth_seconds = run(synth, log)

        settings = {**(QUICK_CONFIG if args.quick else DEFAULT_CONFIG), **_read_config(args.config)}
        settings.update(
            {"seed": args.seed, "domain_benchmark": str(suites[domain]), "general_benchmark": str(suites["general"])}
        )
        if args.quick:
            settings["domain_tasks"] = [first_retrieval_task(suites[domain])]
            settings["general_tasks"] = [first_retrieval_task(suites["general"])]
        out = work / "adapt" / f"{domain}-{generator}"
        config = work / "adapt" / f"{domain}-{generator}.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
        adapt = [DOMAINEMB, "adapt", "--base", "minilm", "--pairs", str(pairs), "--domain", domain, "--out", str(out)]
        adapt += ["--config", str(config)]
        if (out / "run.json").is_file():
            adapt.append("--resume")  # a re-run of the script continues (or only re-reads) an earlier run
        run(adapt, log)
        figures.append(_figures(domain, generator, pairs, out, synth_seconds))
    return figures


def _read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _figures(domain: str, generator: str, pairs: Path, out: Path, synth_seconds: float) -> dict[str, Any]:
    from domainemb.pairs import read_card

    comparison = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    record = json.loads((out / "adapt.json").read_text(encoding="utf-8"))
    card = read_card(pairs)
    return {
        "domain": domain,
        "generator": generator,
        "pairs": record["data"]["pairs_used"],
        "synth_seconds": round(synth_seconds, 1),
        "synth_drops": card.drops if card else None,
        "headline": comparison["headline"],
        "by_type": {suite: s["by_type"] for suite, s in comparison["suites"].items()},
        "dev_score": [record["training"]["dev_score_before"], record["training"]["dev_score_after"]],
        "steps": record["training"]["steps"],
        "train_seconds": record["training"]["seconds"],
        "adapt_wall_seconds": record.get("wall_time_s"),
        "peak_memory_mb": record.get("peak_memory_mb"),
    }


def markdown(figures: list[dict[str, Any]]) -> str:
    def change(c: dict[str, Any] | None) -> str:
        if not c:
            return "n/a"
        interval = "" if c["low"] is None else f" [{100 * c['low']:+.1f}, {100 * c['high']:+.1f}]"
        return f"{100 * c['base']:.1f} → {100 * c['adapted']:.1f} ({100 * c['delta']:+.1f}{interval})"

    rows = [
        "| domain | pairs from | pairs | domain retrieval nDCG@10 | domain suite mean | general suite mean | adapt wall time | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        h = f["headline"]
        memory = f["peak_memory_mb"] or {}
        rows.append(
            f"| {f['domain']} | {f['generator']} | {f['pairs']} | {change(h['domain_retrieval_ndcg_at_10'])} | "
            f"{change(h['domain_mean'])} | "
            f"{change(h['general_mean'])} | {f['adapt_wall_seconds'] or 0:.0f} s | {memory.get('rss', 0):.0f} MiB |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("work/bench-adapt"))
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=DOMAINS)
    parser.add_argument("--generators", nargs="+", default=["ict", "crop"], choices=GENERATORS)
    parser.add_argument("--limit", type=int, default=20_000, help="Pairs per synth run (0: no limit).")
    parser.add_argument(
        "--llm-limit", type=int, default=2_000, help="Pairs per llm synth run (the local LLM is slow on CPU)."
    )
    parser.add_argument("--config", type=Path, help="YAML of AdaptConfig fields overriding the script's defaults.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--quick", action="store_true", help="Smoke run: 300 pairs, 20 steps, one retrieval task per suite."
    )
    parser.add_argument("--records", type=Path, default=RESULTS, help="Results folder the run record goes to.")
    args = parser.parse_args()
    if args.quick:
        args.limit, args.llm_limit = 300, 50

    args.work.mkdir(parents=True, exist_ok=True)
    log: list[dict[str, Any]] = []
    figures: list[dict[str, Any]] = []
    started = start_run()
    start = time.perf_counter()
    for domain in args.domains:
        figures += bench_domain(domain, args.generators, args, log)
    result = {
        "figures": figures,
        "commands": log,
        "total_seconds": round(time.perf_counter() - start, 1),
        "quick": args.quick,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
    }
    (args.work / "figures.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    settings = {"domains": args.domains, "generators": args.generators, "limit": args.limit, "seed": args.seed}
    record = write_record(
        "adapt",
        "quick" if args.quick else "bench-adapt",
        {**settings, "runs": figures, "commands": log},
        started,
        root=args.records,
        packages=("sentence-transformers", "transformers", "mteb"),
    )
    print("\n" + markdown(figures))
    print(f"\nfigures and commands -> {args.work / 'figures.json'}; record -> {record}")


if __name__ == "__main__":
    main()
