"""Speed figures of `domainemb evaluate` (issue 3). A script, not a test: it prints and saves numbers.

Figures:

* ``overhead``: cold evaluation of the lite finance suite with minilm (empty embedding cache,
  model already loaded) against one ``model.encode`` call on exactly the unique texts that
  evaluation encoded, same model and batch size. Target: ratio <= 1.15.
* ``warm``: the same evaluation again on the warm cache (``--overwrite`` semantics: every task is
  scored again, no forward pass). Target: >= 20x faster than cold. Also the plain re-run, which
  keeps the stored results.
* ``bm25``: index + query time on the largest lite retrieval corpus, bm25s (as ``bm25`` runs it,
  through mteb's BM25Search) against rank-bm25 on identical tokens; nDCG@10 of both from mteb's
  evaluator. Target: >= 20x faster at equal nDCG@10.
* ``full``: minilm on the lite finance + general suites, cold cache; time per task.
  Target: <= 10 minutes in all.
* ``growth`` (issue 20): how evaluation wall time grows with suite size and with the number of
  models. minilm, cold cache, on one suite (``--growth-suite``, finance) at ``lite`` and at ``full``,
  with the tasks, unique texts and characters of each; then every model of ``--growth-models`` on the
  lite suite in one ``evaluate`` call, cold, with each model's own seconds (its tasks' wall times)
  and the total (the models must serve every task type, so not bm25). No target: a measurement.

Usage::

    python benchmarks/bench_evaluate.py --work work/bench-evaluate [--figures overhead warm bm25 full growth]

Writes ``WORK/figures.json``, one run record per figure (``RECORDS/evaluate/{bm25,overhead_and_warm,
full_comparison,growth}.json``, ``--records`` defaults to ``benchmarks/results``; see ``benchmarks/records.py``)
and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from records import RESULTS, start_run, write_record

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

#: Packages whose versions decide each figure (recorded beside domainemb, torch and numpy).
RECORD_PACKAGES = {
    "bm25": ("bm25s", "rank-bm25", "PyStemmer", "mteb"),
    "overhead": ("sentence-transformers", "transformers", "mteb", "scikit-learn"),
    "full": ("sentence-transformers", "transformers", "mteb", "scikit-learn"),
    "growth": ("sentence-transformers", "transformers", "mteb", "scikit-learn", "bm25s"),
}


def _suite(domain: str, work: Path, size: str = "lite") -> Path:
    """The suite of a domain at ``size``, built once under WORK/benchmarks."""
    from domainemb.domains.build import BuildConfig, build_benchmark
    from domainemb.types import Domain, Size

    out = work / "benchmarks" / f"{domain}-{size}"
    if not (out / "manifest.json").is_file():
        build_benchmark(BuildConfig(domain=Domain(domain), out=out, size=Size(size)))
    return out


def _cold_cache(work: Path, name: str) -> Path:
    """An embedding cache file WORK/NAME.sqlite, emptied: the timed run encodes every text."""
    cache = work / f"{name}.sqlite"
    for stale in (cache, cache.with_suffix(".sqlite-wal"), cache.with_suffix(".sqlite-shm")):
        stale.unlink(missing_ok=True)
    return cache


def _minilm_run(encoder: Any, bench: Path, out: Path, cache: Path, batch_size: int) -> Any:
    """One ``evaluate`` of the loaded minilm on a whole suite, into a fresh results folder."""
    from domainemb.evaluation.run import EvaluateConfig, evaluate

    shutil.rmtree(out, ignore_errors=True)
    config = EvaluateConfig(benchmark=bench, models=("minilm",), out=out, cache=cache, batch_size=batch_size)
    return evaluate(config, encoders={"minilm": encoder})


def _load_minilm_recording() -> tuple[Any, list[tuple[str, str]]]:
    """minilm, with every text handed to sentence-transformers recorded as (prompt key, text)."""
    from domainemb.evaluation.packaged import minilm

    encoder = minilm()
    seen: list[tuple[str, str]] = []
    model = encoder.model
    encode = model.encode

    def recording_encode(*args, **kwargs):
        texts = args[0] if args else kwargs.get("inputs", kwargs.get("sentences"))
        key = str(kwargs.get("task") or kwargs.get("prompt_name") or kwargs.get("prompt") or "")
        seen.extend((key, t) for t in ([texts] if isinstance(texts, str) else texts))
        return encode(*args, **kwargs)

    model.encode = recording_encode  # encode_query / encode_document route through it
    return encoder, seen


def overhead_and_warm(work: Path, batch_size: int) -> dict[str, Any]:
    from domainemb.evaluation.run import EvaluateConfig, evaluate

    bench = _suite("finance", work)
    encoder, seen = _load_minilm_recording()
    cache = _cold_cache(work, "overhead-cache")
    shutil.rmtree(work / "overhead-results", ignore_errors=True)
    config = EvaluateConfig(
        benchmark=bench, models=("minilm",), out=work / "overhead-results", cache=cache, batch_size=batch_size
    )

    start = time.perf_counter()
    cold = evaluate(config, encoders={"minilm": encoder})
    cold_s = time.perf_counter() - start

    unique = list(dict.fromkeys(seen))
    texts = [t for _, t in unique]
    model = encoder.model
    model.encode = type(model).encode.__get__(model)  # stop recording
    start = time.perf_counter()
    model.encode(texts, batch_size=batch_size, show_progress_bar=False)
    encode_s = time.perf_counter() - start

    start = time.perf_counter()
    warm = evaluate(EvaluateConfig(**{**config.__dict__, "overwrite": True}), encoders={"minilm": encoder})
    warm_s = time.perf_counter() - start
    assert warm.cache.stored == 0, "the warm run encoded something"

    start = time.perf_counter()
    kept = evaluate(config, encoders={"minilm": encoder})
    kept_s = time.perf_counter() - start
    assert all(s.reused for s in kept.scores)

    return {
        "tasks": len(cold.scores),
        "unique_texts_encoded": len(texts),
        "cold_evaluation_s": round(cold_s, 2),
        "encode_unique_texts_s": round(encode_s, 2),
        "overhead_ratio": round(cold_s / encode_s, 3),
        "warm_cache_overwrite_s": round(warm_s, 2),
        "warm_speedup": round(cold_s / warm_s, 1),
        "rerun_keeping_results_s": round(kept_s, 2),
        "rerun_speedup": round(cold_s / kept_s, 1),
        "per_task_cold_s": {s.task: s.provenance.wall_time_s for s in cold.scores},
        "per_task_warm_s": {s.task: s.provenance.wall_time_s for s in warm.scores},
    }


class _Timed:
    """Adds up the seconds spent in a search model's ``index`` and ``search``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.mteb_model_meta = inner.mteb_model_meta

    def index(self, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        self.inner.index(*args, **kwargs)
        self.seconds += time.perf_counter() - start

    def search(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = self.inner.search(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        return out


class RankBM25Search:
    """rank-bm25's BM25Okapi behind mteb's search protocol, on the same tokens as bm25s."""

    def __init__(self, meta: Any) -> None:
        self.mteb_model_meta = meta

    def index(self, corpus, *, task_metadata, hf_split, hf_subset, encode_kwargs, num_proc=None, **kwargs) -> None:
        from rank_bm25 import BM25Okapi

        self.ids = [row["id"] for row in corpus]
        self.tokenize = _token_strings
        self.bm25 = BM25Okapi(
            self.tokenize(["\n".join([row.get("title", ""), row["text"]]) for row in corpus]), k1=1.5, b=0.75
        )

    def search(
        self,
        queries,
        *,
        task_metadata,
        hf_split,
        hf_subset,
        top_k,
        encode_kwargs,
        top_ranked=None,
        num_proc=None,
        **kwargs,
    ):
        import numpy as np

        results = {}
        for qid, tokens in zip(queries["id"], self.tokenize(list(queries["text"]))):
            scores = self.bm25.get_scores(tokens)
            best = np.argsort(-scores)[:top_k]
            results[qid] = {self.ids[i]: float(scores[i]) for i in best}
        return results


def _token_strings(texts: list[str]) -> list[list[str]]:
    """bm25s tokenization as mteb's BM25 uses it for English: stopwords removed, Snowball-stemmed."""
    import bm25s
    import Stemmer

    return bm25s.tokenize(
        texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False
    )


def _token_ids(texts: list[str]) -> Any:
    import bm25s
    import Stemmer

    return bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False)


def _as_strings(tokenized: Any) -> list[list[str]]:
    words = {i: w for w, i in tokenized.vocab.items()}
    return [[words[i] for i in doc] for doc in tokenized.ids]


def bm25_speed(work: Path) -> dict[str, Any]:
    import mteb
    from mteb.models.model_implementations.bm25 import BM25Search

    from domainemb.domains.benchmark import Benchmark
    from domainemb.evaluation.lexical import BM25
    from domainemb.evaluation.mteb_tasks import to_mteb_task

    largest = None
    for domain in ("finance", "general"):
        try:
            bench = Benchmark.open(_suite(domain, work))
        except Exception as exc:  # a suite still being written elsewhere
            print(f"skipping {domain}: {exc}", file=sys.stderr)
            continue
        for entry in bench.tasks:
            if entry.type == "Retrieval" and (largest is None or entry.sizes["corpus"] > largest[1].sizes["corpus"]):
                largest = (bench, entry)
    bench, entry = largest
    ours = BM25()
    meta = ours.model_meta(model_type=["sparse"])
    runs = {
        "bm25s (lucene, as `bm25`)": _Timed(ours.mteb_model()),
        "bm25s (robertson)": _Timed(_with_meta(BM25Search(method="robertson"), meta)),
        "rank-bm25 (BM25Okapi)": _Timed(RankBM25Search(meta)),
    }
    out: dict[str, Any] = {"task": entry.name, "corpus": entry.sizes["corpus"], "queries": entry.sizes["queries"]}
    for label, model in runs.items():
        result = mteb.evaluate(model, [to_mteb_task(bench, entry)], cache=None, show_progress_bar=False)
        out[label] = {
            "index_and_query_s": round(model.seconds, 3),
            "ndcg_at_10": round(result.task_results[0].get_score(), 5),
        }
    slow = out["rank-bm25 (BM25Okapi)"]["index_and_query_s"]
    for label in runs:
        out[label]["speedup_vs_rank_bm25"] = round(slow / out[label]["index_and_query_s"], 1)
    out["scoring_only"] = _bm25_scoring_only(bench, entry)
    return out


def _bm25_scoring_only(bench: Any, entry: Any, repeats: int = 3) -> dict[str, Any]:
    """Index + top-10 retrieval on tokens made once (the tokenization both libraries share); best of ``repeats``."""
    import bm25s
    import numpy as np
    from rank_bm25 import BM25Okapi

    tables = bench.tables(entry)
    docs = ["\n".join([title, text]) for title, text in tables["corpus"].select("title", "text").iter_rows()]
    queries = tables["queries"]["text"].to_list()
    start = time.perf_counter()
    doc_ids, query_ids = _token_ids(docs), _token_ids(queries)
    tokenize_s = time.perf_counter() - start
    doc_tokens, query_tokens = _as_strings(doc_ids), _as_strings(query_ids)  # the same tokens, for rank-bm25

    def run_bm25s() -> None:
        retriever = bm25s.BM25(method="robertson", k1=1.5, b=0.75)
        retriever.index(doc_ids, show_progress=False)
        retriever.retrieve(query_ids, k=10, show_progress=False)

    def run_rank_bm25() -> None:
        index = BM25Okapi(doc_tokens, k1=1.5, b=0.75)
        for tokens in query_tokens:
            np.argsort(-index.get_scores(tokens))[:10]

    timings = {}
    for label, run in (("bm25s (robertson)", run_bm25s), ("rank-bm25 (BM25Okapi)", run_rank_bm25)):
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        timings[label] = round(best, 4)
    return {
        "shared_tokenization_s": round(tokenize_s, 3),
        "index_and_top10_s": timings,
        "speedup": round(timings["rank-bm25 (BM25Okapi)"] / timings["bm25s (robertson)"], 1),
    }


def _with_meta(model: Any, meta: Any) -> Any:
    model.mteb_model_meta = meta
    return model


def full_comparison(work: Path, batch_size: int, suites: tuple[str, ...] = ("finance", "general")) -> dict[str, Any]:
    from domainemb.evaluation.packaged import minilm

    out: dict[str, Any] = {"per_task_s": {}, "suites": {}}
    start = time.perf_counter()
    encoder = minilm()
    out["model_load_s"] = round(time.perf_counter() - start, 2)
    cache = _cold_cache(work, "full-cache")
    for domain in suites:
        try:
            bench = _suite(domain, work)
        except Exception as exc:
            out["suites"][domain] = f"not built: {exc}"
            continue
        suite_start = time.perf_counter()
        result = _minilm_run(encoder, bench, work / "full-results" / domain, cache, batch_size)
        out["suites"][domain] = {"tasks": len(result.scores), "seconds": round(time.perf_counter() - suite_start, 1)}
        out["per_task_s"].update({f"{domain}/{s.task}": s.provenance.wall_time_s for s in result.scores})
    out["total_s"] = round(time.perf_counter() - start, 1)
    return out


def growth(work: Path, batch_size: int, domain: str, models: tuple[str, ...]) -> dict[str, Any]:
    """Wall time against the number of models (lite), then against suite size (minilm, lite and full).

    Every model of ``models`` must serve every task type of the suite (bm25 serves only retrieval and
    reranking): they run in one ``evaluate`` call over the whole suite.
    """
    from domainemb.domains.benchmark import Benchmark
    from domainemb.evaluation.packaged import minilm
    from domainemb.evaluation.run import EvaluateConfig, evaluate, task_texts

    out: dict[str, Any] = {"suite": domain, "sizes": {}, "models": {}}
    encoder = minilm()  # loaded once, outside every timed call
    shutil.rmtree(work / "growth-results" / "models", ignore_errors=True)
    start = time.perf_counter()
    result = evaluate(
        EvaluateConfig(
            benchmark=_suite(domain, work),
            models=models,
            out=work / "growth-results" / "models",
            cache=_cold_cache(work, "growth-models"),
            batch_size=batch_size,
        ),
        encoders={"minilm": encoder} if "minilm" in models else None,
    )
    out["models_total_s"] = round(time.perf_counter() - start, 1)
    for name in models:
        own = [s.provenance.wall_time_s for s in result.scores if s.provenance.model == name]
        out["models"][name] = {"tasks": len(own), "seconds": round(sum(own), 1)}
    cumulative, so_far = [], 0.0
    for name in models:
        so_far += out["models"][name]["seconds"]
        cumulative.append({"models": models[: len(cumulative) + 1], "seconds": round(so_far, 1)})
    out["cumulative"] = cumulative  # the models in the order given, each with the ones before it
    out["not_in_task_times_s"] = round(out["models_total_s"] - so_far, 1)  # loading, fingerprints, task data
    for size in ("lite", "full"):
        bench = _suite(domain, work, size)
        opened = Benchmark.open(bench)
        texts = sorted({t for entry in opened.tasks for t in task_texts(opened, entry)})
        cache = _cold_cache(work, f"growth-{size}")
        start = time.perf_counter()
        result = _minilm_run(encoder, bench, work / "growth-results" / size, cache, batch_size)
        out["sizes"][size] = {
            "tasks": len(opened.tasks),
            "unique_texts": len(texts),
            "characters": sum(len(t) for t in texts),
            "texts_encoded": result.cache.stored,
            "seconds": round(time.perf_counter() - start, 1),
        }
    lite, full = out["sizes"]["lite"], out["sizes"]["full"]
    out["full_over_lite"] = {
        k: round(full[k] / lite[k], 3) for k in ("unique_texts", "characters", "texts_encoded", "seconds")
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("work/bench-evaluate"))
    parser.add_argument(
        "--figures", nargs="+", default=["bm25", "overhead", "full"], choices=["bm25", "overhead", "full", "growth"]
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--full-suites", nargs="+", default=["finance", "general"], help="Suites of the `full` figure.")
    parser.add_argument("--growth-suite", default="finance", help="Suite of the `growth` figure.")
    parser.add_argument(
        "--growth-models",
        nargs="+",
        default=["bow", "glove", "minilm"],
        help="Models of the `growth` figure; each must serve every task type (not bm25).",
    )
    parser.add_argument("--records", type=Path, default=RESULTS, help="Results folder the run records go to.")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    import torch

    figures: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
        }
    }
    runs = {
        "bm25": ("bm25", bm25_speed),
        "overhead": ("overhead_and_warm", overhead_and_warm),
        "full": ("full_comparison", full_comparison),
        "growth": ("growth", growth),
    }
    for figure in args.figures:  # saved after each figure: a later failure keeps the earlier ones
        key, measure = runs[figure]
        run = start_run()
        if figure == "bm25":
            figures[key] = measure(args.work)
        elif figure == "full":
            figures[key] = measure(args.work, args.batch_size, tuple(args.full_suites))
        elif figure == "growth":
            figures[key] = measure(args.work, args.batch_size, args.growth_suite, tuple(args.growth_models))
        else:
            figures[key] = measure(args.work, args.batch_size)
        figures["machine"]["load_average_at_end"] = os.getloadavg()
        (args.work / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
        settings = {"batch_size": args.batch_size} if figure != "bm25" else {}
        if figure == "full":
            settings["suites"] = args.full_suites
        if figure == "growth":
            settings["models_given"] = args.growth_models
        record = write_record(
            "evaluate", key, {**settings, **figures[key]}, run, root=args.records, packages=RECORD_PACKAGES[figure]
        )
        print(f"record: {record}", file=sys.stderr)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
