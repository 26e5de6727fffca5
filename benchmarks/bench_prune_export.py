"""Issue 19, part 4: size on disk, encode throughput and scores of the structured int8 export, beside dense.

1. ``domainemb prune --structured --export onnx-int8`` (magnitude, one-shot, no evaluation by
   default: size and speed do not depend on which neurons go) writes the structured model with
   its int8 graph shipped in ``model/domainemb-onnx/``; an existing run folder is reused.
2. In ONE process: dense torch, structured torch, structured onnx-int8 (the shipped graph, loaded
   through ``--backend onnx-int8``'s loader, which must not export again) and dense onnx-int8 (for
   reference; exported into a temporary cache). A fixed seeded sample of the suite's texts, one
   warm-up batch each, then ``--repeats`` rounds in which the four take turns (the order reversed
   every other round, so a change in the machine's load falls on all); the median texts per
   second of each and its ratio to dense torch; the cosine of each one's vectors to dense torch's.
3. Size on disk: the weight file of each torch model, each graph file.
4. Main scores on ``--score-task`` tasks of the suite (``evaluate``, no embedding cache, a
   temporary results folder), and each one's relative change from dense torch; ``--score-task all``
   scores every task of the suite and records each model's suite mean and its change, the goal's figure.
   Each score is kept as it is measured, so a stopped run resumes: the structured model's in
   ``WORK/RUN.scores.json``, the dense model's in ``WORK/MODEL-dense.scores.json``, which a run with
   other pruning settings in the same work folder reuses (the dense scores do not depend on them);
   each kept score names the weights' fingerprint and the suite, and one of other weights is scored again.

    nice -n 19 python benchmarks/bench_prune_export.py --work work/bench-prune-export

Writes ``benchmarks/results/prune/export-<model>[-r<steps>].json`` (or ``--name``) and prints a Markdown line per model.
Goal (issue 19): structured int8 at least 2.5x dense throughput, at most a quarter of the dense
size on disk, within 4% of dense on the domain suite (with ``--score-task all``; else on the chosen tasks only).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from encode_rounds import row_cosines, speed, timed_rounds
from records import RESULTS, start_run, write_record

from domainemb.evaluation.shipped_graph import weights_fingerprint

DOMAINEMB = str(Path(sys.executable).parent / "domainemb")
#: A small retrieval task of finance lite (the issue's goal is on the domain suite's mean).
SCORE_TASKS = ("OpenStaxFinanceGlossaryRetrieval",)
ORDER = ("dense-torch", "structured-torch", "structured-onnx-int8", "dense-onnx-int8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("work/bench-prune-export"))
    parser.add_argument("--benchmark", type=Path, default=Path("work/benchmarks/finance-lite"))
    parser.add_argument("--domain", default="finance")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--method", default="magnitude")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--retrain-steps", type=int, default=0)
    parser.add_argument("--config", type=Path, help="A prune YAML file (e.g. distill_texts for retraining).")
    parser.add_argument("--texts", type=int, default=160, help="Texts in the throughput sample.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--score-task",
        action="append",
        help=f"Default: {', '.join(SCORE_TASKS)}; 'none' skips; 'all': the whole suite.",
    )
    parser.add_argument("--records", type=Path, default=RESULTS)
    parser.add_argument("--note", default="", help="Recorded as is (e.g. what else loaded the machine).")
    parser.add_argument(
        "--name", help="The record's name (default: export-MODEL[-rSTEPS]), e.g. for a second condition."
    )
    args = parser.parse_args()
    score_tasks = tuple(args.score_task or SCORE_TASKS)
    if score_tasks == ("none",):
        score_tasks = ()

    run = start_run()
    out = args.work / f"{args.model}-{args.method}-structured-{args.sparsity:g}-r{args.retrain_steps}-int8"
    prune_s = _prune(args, out)

    os.environ["DOMAINEMB_CACHE"] = tempfile.mkdtemp(prefix="bench-prune-export-")  # dense export only
    import numpy as np
    import torch

    from domainemb.domains.benchmark import Benchmark
    from domainemb.evaluation.backends import load_encoder_with_backend
    from domainemb.evaluation.run import EvaluateConfig, evaluate, task_texts
    from domainemb.evaluation.shipped_graph import EXPORT_DIR
    from domainemb.prune.report import PruneReport

    report = PruneReport.from_disk(out)
    folder = out / "model"
    bench = Benchmark.open(args.benchmark, verify=False)
    whole_suite = score_tasks == ("all",)
    if whole_suite:
        score_tasks = tuple(entry.name for entry in bench.tasks)
    pool = sorted({t for entry in bench.tasks for t in task_texts(bench, entry)})
    sample = random.Random(args.seed).sample(pool, min(args.texts, len(pool)))
    print(f"{len(sample)} texts of {len(pool)} ({args.benchmark}), mean {np.mean([len(t) for t in sample]):.0f} chars")

    specs = {
        "dense-torch": (args.model, "torch"),
        "structured-torch": (str(folder), "torch"),
        "structured-onnx-int8": (str(folder), "onnx-int8"),
        "dense-onnx-int8": (args.model, "onnx-int8"),
    }
    encoders, load_s = {}, {}
    for name, (model, backend) in specs.items():
        started = time.perf_counter()
        encoders[name] = load_encoder_with_backend(model, backend)
        load_s[name] = round(time.perf_counter() - started, 2)
        print(f"{name}: loaded in {load_s[name]} s")
    shipped = encoders["structured-onnx-int8"].graph
    if Path(shipped).parent != folder / EXPORT_DIR:
        raise SystemExit(f"the structured int8 encoder did not run the shipped graph: {shipped}")

    dense_folder = encoders["dense-torch"].folder
    size = {
        "dense-torch": _weights_bytes(dense_folder),
        "structured-torch": _weights_bytes(folder),
        "structured-onnx-int8": Path(shipped).stat().st_size,
        "dense-onnx-int8": Path(encoders["dense-onnx-int8"].graph).stat().st_size,
    }

    for name in ORDER:  # warm-up: one batch each
        encoders[name].model.encode(sample[: args.batch_size], batch_size=args.batch_size)
    encode = {
        n: (lambda n=n: encoders[n].model.encode(sample, batch_size=args.batch_size, show_progress_bar=False))
        for n in ORDER
    }
    seconds, vectors = timed_rounds(encode, args.repeats, len(sample))

    models = {}
    for name in ORDER:
        cosine = row_cosines(vectors[name], vectors["dense-torch"])
        rate = speed(seconds[name], seconds["dense-torch"], len(sample))
        models[name] = {
            "bytes_on_disk": size[name],
            "fraction_of_dense_size": round(size[name] / size["dense-torch"], 4),
            "texts_per_s": rate["texts_per_s"],
            "seconds": rate["seconds"],
            "speedup_vs_dense_torch": rate["vs_reference"],
            "cosine_to_dense_min": float(cosine.min()),
            "cosine_to_dense_mean": float(cosine.mean()),
            "load_s": load_s[name],
        }

    kept_files = {  # scores already measured: a stopped run resumes, and a second run reuses the dense ones
        name: args.work / (f"{args.model}-dense.scores.json" if name.startswith("dense") else f"{out.name}.scores.json")
        for name in ORDER
    }
    # what a kept score belongs to: the weights and the suite (a pruned folder made again is scored again)
    weights = {
        "structured": weights_fingerprint(folder),
        "dense": weights_fingerprint(dense_folder),
    }  # each hashed once
    owner = {name: f"{weights[name.split('-')[0]]} {args.benchmark}" for name in ORDER}
    kept = {name: _kept_scores(path, name, owner[name]) for name, path in kept_files.items()}
    reused = {name: str(kept_files[name]) for name in ORDER if kept[name]}  # recorded
    for task in score_tasks:
        for name in ORDER:
            if task in kept[name]:
                models[name].setdefault("scores", {})[task] = kept[name][task]
                print(f"{name}: {task} {kept[name][task]:.5f} (kept in {kept_files[name]})")
                continue
            with tempfile.TemporaryDirectory() as results:
                started = time.perf_counter()
                model = specs[name][0]
                config = EvaluateConfig(
                    benchmark=args.benchmark,
                    models=(model,),
                    tasks=(task,),
                    out=Path(results),
                    backend=specs[name][1],
                    batch_size=args.batch_size,
                    use_cache=False,
                )
                result = evaluate(config, encoders={model: encoders[name]})
            models[name].setdefault("scores", {})[task] = result.scores[0].main_score
            kept[name][task] = result.scores[0].main_score
            path = kept_files[name]
            shared = {n: {"owner": owner[n], "scores": kept[n]} for n in ORDER if kept_files[n] == path}
            path.write_text(json.dumps(shared, indent=1) + "\n")
            print(f"{name}: {task} {result.scores[0].main_score:.5f} in {time.perf_counter() - started:.0f} s")
    for name in ORDER:
        scores = models[name].get("scores", {})
        dense = models["dense-torch"].get("scores", {})
        if scores:
            models[name]["relative_change_pct"] = {
                t: round(100 * (s - dense[t]) / dense[t], 3) for t, s in scores.items() if dense.get(t)
            }
        if whole_suite:  # the goal's figure: the suite mean, every model on the same tasks
            models[name]["suite_mean"] = float(np.mean(list(scores.values())))
    if whole_suite:
        dense_mean = models["dense-torch"]["suite_mean"]
        for name in ORDER:
            change_pct = 100 * (models[name]["suite_mean"] - dense_mean) / dense_mean
            models[name]["suite_mean_relative_change_pct"] = round(change_pct, 3)

    target = models["structured-onnx-int8"]
    change = list(target.get("relative_change_pct", {}).values())
    goals = {
        "speedup_at_least_2.5x": target["speedup_vs_dense_torch"] >= 2.5,
        "size_at_most_a_quarter": target["fraction_of_dense_size"] <= 0.25,
    }
    if whole_suite:
        goals["within_4pct_on_domain_suite"] = target["suite_mean_relative_change_pct"] >= -4.0
    else:
        goals["within_4pct_on_scored_tasks"] = (min(change) >= -4.0) if change else None
    figures = {
        "model": args.model,
        "domain": args.domain,
        "prune_run": {
            "folder": str(out),
            "method": report.method,
            "sparsity": report.target_sparsity,
            "structured": report.structured,
            "retrain_steps": report.retrain_steps,
            "ffn_width": report.ffn_width,
            "export": report.export,
            "prune_command_s": prune_s,
            "config": str(args.config) if args.config else None,
            "retraining": report.retraining,
            "seconds": report.seconds,
        },
        "benchmark": str(args.benchmark),
        "sample": {"texts": len(sample), "pool": len(pool), "seed": args.seed},
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "models": models,
        "score_tasks": list(score_tasks),
        "whole_suite": whole_suite,
        "scores_reused_from": reused,
        "goals": goals,
        "note": args.note,
    }
    path = write_record(
        "prune",
        args.name or f"export-{args.model}" + (f"-r{args.retrain_steps}" if args.retrain_steps else ""),
        figures,
        run,
        root=args.records,
        packages=("sentence-transformers", "transformers", "onnx", "onnxruntime", "mteb"),
    )
    print(f"record: {path}")
    for name, m in models.items():
        scores = " ".join(f"{t} {s:.4f}" for t, s in m.get("scores", {}).items())
        if "suite_mean" in m:
            scores = f"suite mean {m['suite_mean']:.4f} ({m['suite_mean_relative_change_pct']:+.2f}%)"
        print(
            f"| {name} | {m['bytes_on_disk'] / 2**20:.1f} MB ({m['fraction_of_dense_size']:.2f}x) | "
            f"{m['texts_per_s']:.1f}/s ({m['speedup_vs_dense_torch']:.2f}x) | cos min {m['cosine_to_dense_min']:.3f} | {scores} |"
        )
    print("goals:", goals)


def _prune(args: argparse.Namespace, out: Path) -> float | None:
    """Run ``domainemb prune --structured --export onnx-int8`` into ``out`` unless a finished run is there."""
    if (out / "prune_report.json").is_file():
        print(f"reusing {out}")
        return None
    command = [DOMAINEMB, "prune", "--model", args.model, "--domain", args.domain, "--method", args.method]
    command += ["--sparsity", str(args.sparsity), "--structured", "--retrain-steps", str(args.retrain_steps)]
    command += ["--export", "onnx-int8", "--no-eval", "--out", str(out)]
    if args.config is not None:
        command += ["--config", str(args.config)]
    print("$", shlex.join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return round(time.perf_counter() - started, 1)


def _kept_scores(path: Path, name: str, owner: str) -> dict[str, float]:
    """The scores ``path`` keeps for ``name``, if they were measured on the same weights and suite."""
    entry = json.loads(path.read_text()).get(name, {}) if path.is_file() else {}
    return dict(entry["scores"]) if entry.get("owner") == owner else {}


def _weights_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))


if __name__ == "__main__":
    sys.exit(main())
