"""Issue 20, part 1: encode throughput and main-score parity of the inference backends, side by side.

In ONE process, for one model (minilm by default):

* **throughput**: a fixed sample of the domain suite's texts (seeded, from every task of the
  benchmark) encoded by torch, onnx, onnx-int8 and openvino, one warm-up batch each, then
  ``--repeats`` rounds in which the backends take turns (so a change in the machine's load falls on
  all of them); the median texts per second of each, its ratio to torch, and the cosine of each
  backend's vectors to torch's (min and mean);
* **parity**: the main score of each backend on ``--parity-task`` tasks of the suite (through
  ``evaluate``, no embedding cache, a temporary results folder) and its difference from torch's.

    nice -n 19 python benchmarks/bench_backends.py --benchmark work/benchmarks/finance-lite

Writes ``benchmarks/results/backends/<model or --name>.json``. The ONNX exports go to a temporary
``DOMAINEMB_CACHE`` (their time is recorded; removed at the end), so no other job's cache is touched.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from encode_rounds import row_cosines, speed, timed_rounds
from records import RESULTS, start_run, write_record

BACKENDS = ("torch", "onnx", "onnx-int8", "openvino")
#: Four task types, short texts: a few minutes per backend on 2 loaded cores.
PARITY_TASKS = (
    "OpenStaxFinanceGlossaryRetrieval",
    "SemEval2017FinHeadlineSentimentClassification",
    "FiQA2018PostAspectClustering",
    "OpenStaxFinanceTermDefinitionPairClassification",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", type=Path, default=Path("work/benchmarks/finance-lite"))
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="Default: all four.")
    parser.add_argument("--texts", type=int, default=400, help="Texts in the throughput sample.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parity-task", action="append", help=f"Default: {', '.join(PARITY_TASKS)}; 'none' skips.")
    parser.add_argument("--records", type=Path, default=RESULTS)
    parser.add_argument("--note", default="", help="Recorded as is (e.g. what else loaded the machine).")
    parser.add_argument("--name", help="The record's name (default: the model's).")
    args = parser.parse_args()
    backends = tuple(args.backend or BACKENDS)
    if backends[0] != "torch":
        backends = ("torch", *(b for b in backends if b != "torch"))
    parity_tasks = tuple(args.parity_task or PARITY_TASKS)
    if parity_tasks == ("none",):
        parity_tasks = ()

    cache = tempfile.mkdtemp(prefix="bench-backends-")
    os.environ["DOMAINEMB_CACHE"] = cache
    try:
        measure(args, backends, parity_tasks)
    finally:
        shutil.rmtree(cache, ignore_errors=True)  # the exports (about 90 MB for minilm)


def measure(args: argparse.Namespace, backends: tuple[str, ...], parity_tasks: tuple[str, ...]) -> None:
    import numpy as np
    import torch

    from domainemb.domains.benchmark import Benchmark
    from domainemb.evaluation.backends import load_encoder_with_backend
    from domainemb.evaluation.run import EvaluateConfig, evaluate, task_texts

    run = start_run()
    bench = Benchmark.open(args.benchmark, verify=False)
    pool = sorted({t for entry in bench.tasks for t in task_texts(bench, entry)})
    sample = random.Random(args.seed).sample(pool, min(args.texts, len(pool)))
    print(f"{len(sample)} texts of {len(pool)} ({args.benchmark}), mean {np.mean([len(t) for t in sample]):.0f} chars")

    encoders, load_s = {}, {}
    for backend in backends:
        started = time.perf_counter()
        encoders[backend] = load_encoder_with_backend(args.model, backend)  # the first load of a graph exports it
        load_s[backend] = round(time.perf_counter() - started, 2)
        print(f"{backend}: loaded (export included) in {load_s[backend]} s")

    for backend in backends:  # warm-up: one batch each
        encoders[backend].model.encode(sample[: args.batch_size], batch_size=args.batch_size)
    encode = {
        b: (lambda b=b: encoders[b].model.encode(sample, batch_size=args.batch_size, show_progress_bar=False))
        for b in backends
    }
    seconds, vectors = timed_rounds(encode, args.repeats, len(sample))

    throughput = {}
    for backend in backends:
        cosine = row_cosines(vectors[backend], vectors["torch"])
        rate = speed(seconds[backend], seconds["torch"], len(sample))
        throughput[backend] = {
            "texts_per_s": rate["texts_per_s"],
            "seconds": rate["seconds"],
            "vs_torch": rate["vs_reference"],
            "vs_torch_median_of_rounds": rate["vs_reference_median_of_rounds"],
            "cosine_to_torch_min": float(cosine.min()),
            "cosine_to_torch_mean": float(cosine.mean()),
            "load_s_export_included": load_s[backend],
        }

    parity = {}
    if parity_tasks:
        scores: dict[str, dict[str, float]] = {}
        for backend in backends:
            with tempfile.TemporaryDirectory() as out:
                started = time.perf_counter()
                config = EvaluateConfig(
                    benchmark=args.benchmark,
                    models=(args.model,),
                    tasks=parity_tasks,
                    out=Path(out),
                    backend=backend,
                    batch_size=args.batch_size,
                    use_cache=False,
                )
                result = evaluate(config, encoders={args.model: encoders[backend]})
                scores[backend] = {s.task: s.main_score for s in result.scores}
                print(f"{backend}: scored {len(parity_tasks)} tasks in {time.perf_counter() - started:.0f} s")
        for task in parity_tasks:
            parity[task] = {
                "type": bench.task(task).type,
                "main_score": bench.task(task).main_score,
                **{b: scores[b][task] for b in backends},
                **{f"{b}_minus_torch": scores[b][task] - scores["torch"][task] for b in backends if b != "torch"},
            }

    figures = {
        "model": args.model,
        "benchmark": str(args.benchmark),
        "sample": {
            "texts": len(sample),
            "pool": len(pool),
            "seed": args.seed,
            "mean_chars": float(np.mean([len(t) for t in sample])),
        },
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "throughput": throughput,
        "parity": parity,
        "max_abs_score_diff": {
            b: max((abs(p[f"{b}_minus_torch"]) for p in parity.values()), default=None)
            for b in backends
            if b != "torch"
        },
        "note": args.note,
    }
    path = write_record(
        "backends",
        args.name or args.model,
        figures,
        run,
        root=args.records,
        packages=("sentence-transformers", "transformers", "onnx", "onnxruntime", "openvino", "mteb"),
    )
    print(f"record: {path}")
    for backend, t in throughput.items():
        print(
            f"{backend:10s} {t['texts_per_s']:8.1f} texts/s  x{t['vs_torch']:.2f}  cos min {t['cosine_to_torch_min']:.6f}"
        )
    for task, p in parity.items():
        print(task, " ".join(f"{b}={p[b]:.6f}" for b in backends))


if __name__ == "__main__":
    sys.exit(main())
