"""Quality and speed figures of `domainemb prune` (issue 7). A script, not a test: it runs the real
command and saves numbers.

Per domain (finance, chemistry, medicine), for ``minilm`` at 50% FFN sparsity:

1. **One-shot**: ``domainemb prune`` with each method (GAPrune with its three DAI variants, magnitude,
   domain-Fisher, general-Fisher, random); each run scores dense and pruned model on the domain and
   general lite suites. Goal: GAPrune within 2.5% of dense on the domain suite, ahead of magnitude.
2. **Retrained**: GAPrune (paper variant) and magnitude with ``--retrain-steps`` (default 100).
   Goal: GAPrune >= dense on the domain suite.
3. **Structured**: GAPrune ``--structured`` (50% of FFN neurons) with retraining; then encode
   throughput of dense and structured model, measured side by side in this process (alternating
   repeats, best of each). Goal: >= 1.3x throughput at <= 3% domain loss.
4. **Scoring cost**: time and peak memory of the scoring stage, from the reports.
5. **Retrained on synth pairs** (only for a domain given ``--pairs DOMAIN=FILE``, a ``domainemb
   synth`` output): the retrained GAPrune runs again, with that file as the domain pairs (its
   k-means choice calibrates the domain side, and the same pairs retrain), to tell what the
   pruning costs from what the same-label train-split pairs cost; and one-shot GAPrune on that
   file's calibration alone (``gaprune-paper-pairs``), to tell what the calibration does from what
   the retraining does; and the other two DAI variants one-shot on that calibration
   (``gaprune-normalized-pairs``, ``gaprune-reference-pairs``; their masks against magnitude's:
   ``bench_prune_variants.py``).

Every command is printed before it runs. Tables are built from the runs' ``prune_report.json``
files only; ``--report-only`` rebuilds them without running anything. Results go to
``WORK/figures.json``, one run record per domain goes to ``RECORDS/prune/DOMAIN.json`` (``--records``,
default ``benchmarks/results``; ``quick-DOMAIN.json`` for ``--quick``; see ``benchmarks/records.py``),
and a Markdown summary is printed.

Usage::

    python benchmarks/bench_prune.py --work work/bench-prune [--domains finance chemistry medicine]
        [--calibration 1000] [--retrain-steps 100] [--config prune.yaml] [--quick] [--report-only]
        [--pairs finance=work/pairs/finance-crop.jsonl] [--runs RUN ...]

``--quick`` is a smoke run (64 calibration pairs, two small tasks per suite; give
``--retrain-steps`` too); its numbers say little.
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

import yaml
from records import RESULTS, start_run, write_record

DOMAINS = ("finance", "chemistry", "medicine")
DOMAINEMB = str(Path(sys.executable).parent / "domainemb")
#: (run name, --method, extra settings) of the one-shot table.
ONE_SHOT = (
    ("gaprune-paper", "gaprune", {"variant": "paper"}),
    ("gaprune-normalized", "gaprune", {"variant": "normalized"}),
    ("gaprune-reference", "gaprune", {"variant": "reference"}),
    ("magnitude", "magnitude", {}),
    ("fisher-domain", "fisher-domain", {}),
    ("fisher-general", "fisher-general", {}),
    ("random", "random", {}),
)
#: (run name, --method, extra flags, extra settings) of the runs with ``--retrain-steps``.
RETRAINED = (
    ("gaprune-paper-retrained", "gaprune", [], {"variant": "paper"}),
    ("magnitude-retrained", "magnitude", [], {}),
    ("gaprune-structured-retrained", "gaprune", ["--structured"], {"variant": "paper"}),
)
#: Runs whose domain pairs are the ``--pairs`` file of their domain (run name -> run it repeats).
ON_PAIRS = {
    "gaprune-paper-pairs": "gaprune-paper",  # one-shot: what the calibration on pairs alone does
    "gaprune-normalized-pairs": "gaprune-normalized",  # the DAI variants on the same calibration
    "gaprune-reference-pairs": "gaprune-reference",
    "gaprune-paper-retrained-pairs": "gaprune-paper-retrained",
    "gaprune-structured-retrained-pairs": "gaprune-structured-retrained",
}
#: Every run of a domain, in table order: the one-shot runs, the retrained and structured ones, those on pairs.
RUN_NAMES = (*(name for name, _, _ in ONE_SHOT), *(name for name, _, _, _ in RETRAINED), *ON_PAIRS)
#: Tasks of the quick smoke run (small ones).
QUICK_TASKS = {
    "finance": ["FiQA2018PostSentimentClassification", "SemEval2017FinHeadlineSentimentClassification"],
    "chemistry": ["ChemProtRelationClassification", "OpenStaxChemTermDefinitionPairClassification"],
    "medicine": ["MedicalQuestionPairsPairClassification", "BiossesSTS"],
    "general": ["SICKR", "TwitterPIT2015PairClassification"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("work/bench-prune"))
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=DOMAINS)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument(
        "--calibration", type=int, default=1000, help="Domain and general calibration pairs each (paper: 5000)."
    )
    parser.add_argument("--retrain-steps", type=int, default=100)
    parser.add_argument("--config", type=Path, help="A prune YAML file merged into every run's settings.")
    parser.add_argument(
        "--quick", action="store_true", help="Smoke run: tiny calibration, few steps, two tasks per suite."
    )
    parser.add_argument("--report-only", action="store_true", help="Only rebuild the tables from existing runs.")
    parser.add_argument("--throughput-texts", type=int, default=1000)
    parser.add_argument("--records", type=Path, default=RESULTS, help="Results folder the run records go to.")
    parser.add_argument(
        "--runs",
        nargs="+",
        choices=RUN_NAMES,
        metavar="RUN",
        help=f"Only these runs, in this order (default: all). Choices: {', '.join(RUN_NAMES)}. Tables still use every finished run.",
    )
    parser.add_argument(
        "--pairs",
        nargs="+",
        default=[],
        metavar="DOMAIN=FILE",
        help=f"A domainemb synth output per domain; adds the runs {', '.join(ON_PAIRS)} for that domain.",
    )
    args = parser.parse_args()
    pairs = _pairs_files(parser, args.pairs)
    for name in args.runs or ():
        if name in ON_PAIRS and not set(args.domains) & set(pairs):
            parser.error(f"run {name} needs --pairs DOMAIN=FILE for one of the domains {', '.join(args.domains)}")

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"machine": _machine(), "model": args.model, "sparsity": args.sparsity, "domains": {}}
    for domain in args.domains:
        started = start_run()
        config = _write_config(work, domain, args)
        runs: dict[str, Path] = {}
        plan = [(name, method, [], extra) for name, method, extra in ONE_SHOT]
        plan += [
            (name, method, [*flags, "--retrain-steps", str(args.retrain_steps)], extra)
            for name, method, flags, extra in RETRAINED
        ]
        if domain in pairs:
            by_name = {step[0]: step for step in plan}
            for name, repeats in ON_PAIRS.items():
                _, method, flags, extra = by_name[repeats]
                plan.append((name, method, [*flags, "--pairs", str(pairs[domain])], extra))
        if args.runs:
            plan = sorted(plan, key=lambda step: args.runs.index(step[0]) if step[0] in args.runs else len(args.runs))
        for name, method, flags, extra in plan:
            out = work / "runs" / domain / name
            runs[name] = out
            if args.report_only or (out / "prune_report.json").is_file() or (args.runs and name not in args.runs):
                continue
            run_config = merge_config(config, work / "configs" / f"{domain}-{name}.yaml", extra)
            run_command(prune_command(args.model, domain, method, args.sparsity, flags, out, run_config))
        for name in ON_PAIRS:  # finished runs on pairs stay in the tables without repeating --pairs
            runs.setdefault(name, work / "runs" / domain / name)
        runs = {name: runs[name] for name in RUN_NAMES if name in runs}  # tables in the canonical order
        figures["domains"][domain] = _domain_figures(domain, runs, args, work)
        settings = {"model": args.model, "sparsity": args.sparsity, "calibration": args.calibration}
        settings |= {"retrain_steps": args.retrain_steps, "quick": args.quick, "report_only": args.report_only}
        write_record(
            "prune",
            f"quick-{domain}" if args.quick else domain,
            {**settings, **figures["domains"][domain]},
            started,
            root=args.records,
            packages=("sentence-transformers", "transformers", "mteb"),
        )
    (work / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(_markdown(figures))
    print(f"\nfigures: {work / 'figures.json'}")


def _pairs_files(parser: argparse.ArgumentParser, values: list[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for value in values:
        domain, sep, path = value.partition("=")
        if not sep or domain not in DOMAINS or not Path(path).is_file():
            parser.error(
                f"--pairs {value}: expected DOMAIN=FILE with DOMAIN one of {', '.join(DOMAINS)} and an existing FILE"
            )
        files[domain] = Path(path).resolve()
    return files


def _write_config(work: Path, domain: str, args: argparse.Namespace) -> Path:
    settings: dict[str, Any] = {
        "domain_calibration": args.calibration,
        "general_calibration": args.calibration,
        "benchmarks": str(work / "benchmarks"),
        # magnitude, random and fisher-general prune the same weights for every domain: their
        # general-suite embeddings are computed once, and an interrupted benchmark resumes cheaply.
        "cache_pruned": True,
        # the dense model is scored once for all runs and domains, not once per run
        "dense_results": str(work / "dense-results"),
        # calibration pairs and gradient moments are the same for every method of a domain (and the
        # general side for every domain): computed once
        "stage_cache": str(work / "stages"),
    }
    if args.quick:
        settings |= {"domain_calibration": 64, "general_calibration": 64, "candidate_pool": 500, "max_seq_length": 64}
        settings |= {"domain_tasks": QUICK_TASKS[domain], "general_tasks": QUICK_TASKS["general"]}
    if args.config:
        settings |= yaml.safe_load(args.config.read_text()) or {}
    path = work / "configs" / f"{domain}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=True))
    return path


def merge_config(base: Path, path: Path, extra: dict[str, Any]) -> Path:
    """Write the YAML settings of ``base`` updated with ``extra`` to ``path``; ``path``."""
    settings = yaml.safe_load(base.read_text()) | extra
    path.write_text(yaml.safe_dump(settings, sort_keys=True))
    return path


def prune_command(
    model: str, domain: str, method: str, sparsity: float, flags: list[str], out: Path, config: Path
) -> list[str]:
    """The ``domainemb prune`` command line of one run."""
    return [
        *(DOMAINEMB, "prune", "--model", model, "--domain", domain, "--method", method, "--sparsity", str(sparsity)),
        *flags,
        *("--out", str(out), "--config", str(config)),
    ]


def run_command(command: list[str]) -> None:
    """Print ``command``, run it (progress bars off: the log keeps the stage lines) and print its time."""
    print("$ " + shlex.join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "TQDM_DISABLE": "1"})
    print(f"  [{time.perf_counter() - start:.0f}s]", flush=True)


def _domain_figures(domain: str, runs: dict[str, Path], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    reports = {
        name: json.loads((out / "prune_report.json").read_text())
        for name, out in runs.items()
        if (out / "prune_report.json").is_file()
    }
    rows = {}
    for name, report in reports.items():
        suites = report.get("suites", {})
        rows[name] = {
            "domain_dense": suites.get("domain", {}).get("dense_mean"),
            "domain_pruned": suites.get("domain", {}).get("pruned_mean"),
            "domain_change_pct": suites.get("domain", {}).get("relative_change_pct"),
            "general_dense": suites.get("general", {}).get("dense_mean"),
            "general_pruned": suites.get("general", {}).get("pruned_mean"),
            "general_change_pct": suites.get("general", {}).get("relative_change_pct"),
            "ffn_sparsity": report["ffn_sparsity"],
            "scoring_s": report["seconds"].get("scoring"),
            "scoring_peak_memory_mb": report.get("scoring_peak_memory_mb"),
            "total_s": report["seconds"].get("total"),
            "size_on_disk": report.get("size_on_disk"),
            "calibration": {k: v["pairs"] for k, v in report.get("calibration", {}).items()},
        }
    figures: dict[str, Any] = {"runs": rows, "commands_config": str(work / "configs" / f"{domain}.yaml")}
    structured = runs.get("gaprune-structured-retrained")
    if structured is not None and (structured / "model").is_dir():
        # the suites the run itself used (a --config may point `benchmarks` elsewhere)
        benchmarks = Path(reports["gaprune-structured-retrained"]["hyperparameters"]["benchmarks"])
        figures["throughput"] = _throughput(
            args.model, structured / "model", benchmarks / f"{domain}-lite", args.throughput_texts
        )
    for name, report in reports.items():
        if name in ON_PAIRS:
            rows[name]["pairs"] = report["calibration"]["domain"]["source"]
    return figures


def _throughput(
    dense_name: str, pruned_folder: Path, benchmark: Path, n_texts: int, repeats: int = 3
) -> dict[str, Any]:
    """Encode the same domain texts with both models, alternating, in this process; best time of each."""
    from sentence_transformers import SentenceTransformer

    from domainemb.domains.benchmark import Benchmark
    from domainemb.evaluation.encoders import load_encoder
    from domainemb.evaluation.run import task_texts

    bench = Benchmark.open(benchmark)
    texts: list[str] = []
    for entry in bench.tasks:
        texts.extend(task_texts(bench, entry))
        if len(texts) >= n_texts:
            break
    texts = sorted(texts)[:n_texts]
    models = {
        "dense": load_encoder(dense_name).model,
        "structured": SentenceTransformer(str(pruned_folder), device="cpu"),
    }
    for model in models.values():
        model.to("cpu")
        model.encode(texts[:32], batch_size=32)  # warm-up
    best = {name: float("inf") for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.encode(texts, batch_size=32, show_progress_bar=False)
            best[name] = min(best[name], time.perf_counter() - start)
    import torch

    return {
        "texts": len(texts),
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "dense_texts_per_s": round(len(texts) / best["dense"], 1),
        "structured_texts_per_s": round(len(texts) / best["structured"], 1),
        "speedup": round(best["dense"] / best["structured"], 3),
    }


def _markdown(figures: dict[str, Any]) -> str:
    lines = [f"model {figures['model']}, FFN sparsity {figures['sparsity']}, {figures['machine']['cpu']}"]
    for domain, data in figures["domains"].items():
        rows = data["runs"]
        header = "| run | domain dense | domain pruned | Δ domain % | general dense | general pruned | Δ general % | scoring s | peak MB |"
        lines += ["", f"### {domain}", "", header, "|---|---|---|---|---|---|---|---|---|"]
        for name, row in rows.items():
            cells = [
                row["domain_dense"],
                row["domain_pruned"],
                row["domain_change_pct"],
                row["general_dense"],
                row["general_pruned"],
                row["general_change_pct"],
                row["scoring_s"],
                row["scoring_peak_memory_mb"],
            ]
            lines.append("| " + " | ".join([name, *(_cell(c) for c in cells)]) + " |")
        if "throughput" in data:
            t = data["throughput"]
            lines += [
                "",
                (
                    f"structured throughput ({t['texts']} texts, CPU, {t['torch_threads']} threads): "
                    f"dense {t['dense_texts_per_s']}/s, structured {t['structured_texts_per_s']}/s, speed-up {t['speedup']}x"
                ),
            ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _machine() -> dict[str, Any]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    main()
