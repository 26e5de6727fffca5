"""One synthesis run: corpus -> chunks -> planned items -> pairs (resumable) -> filtered pairs + card.

Generation appends every finished item to ``<stem>.raw.jsonl`` and every failed one to
``<stem>.failed.jsonl``; both are append-only and keyed, so the same command after an interruption
(even ``kill -9``) does only the remaining work. Post-processing is deterministic: it reads the raw
log and writes ``<out>`` and ``<stem>.card.json`` atomically on every run (the retrieval pool's embeddings
are cached beside the output, so a rerun does not encode the corpus again).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import domainemb
from domainemb.atomic import write_atomic
from domainemb.errors import DomainembError
from domainemb.jsonio import write_json
from domainemb.outputs import check_output_file
from domainemb.pairs import Pair, pair_from_record, write_pairs
from domainemb.progress import OnEvent, StageEvent
from domainemb.synth.ann import pool_search
from domainemb.synth.config import Generator, PromptStyle, SynthConfig, redact_url
from domainemb.synth.corpus import Chunk, Corpus, chunk_corpus, read_corpus
from domainemb.synth.decontam import HeldOut, find_benchmarks, load_held_out
from domainemb.synth.generate import (
    UNUSABLE_REASON,
    ItemFailed,
    WorkItem,
    crop_pair,
    ict_pair,
    llm_pair,
    plan,
    requirement,
    usable,
)
from domainemb.synth.llm import LLMClient, OpenAIClient, RetryPolicy
from domainemb.synth.pairs import AppendLog
from domainemb.synth.personas import personas_for
from domainemb.synth.postprocess import (
    SentenceTransformerEmbedder,
    TextEmbedder,
    decontaminate,
    dedupe_exact,
    dedupe_near,
    rank_and_mine,
)
from domainemb.synth.structure import section_chunks, select_sections, structure_pair
from domainemb.synth.teacher import Teacher, load_teacher
from domainemb.synth.templates import load_template
from domainemb.synth.text import stable_hash
from domainemb.synth_card import (
    CorpusInfo,
    Decontamination,
    FailedItems,
    ItemCounts,
    LlmUsage,
    PairCounts,
    SynthCard,
    TeacherInfo,
    TokenCounts,
)

log = logging.getLogger(__name__)

LOCAL_CONCURRENCY = 2


@dataclass(frozen=True)
class SynthResult:
    """Where the run wrote, and its card (what ``<stem>.card.json`` holds)."""

    out: Path
    card_path: Path
    card: SynthCard


@dataclass
class _Endpoint:
    client: LLMClient
    local: bool


def synthesize(
    config: SynthConfig,
    client: LLMClient | None = None,
    embedder: TextEmbedder | None = None,
    on_event: OnEvent | None = None,
    held_out: HeldOut | None = None,
    teacher: Teacher | None = None,
) -> SynthResult:
    """Run (or resume) a synthesis run and write its pairs and card.

    Args:
        config: The run.
        client: LLM client; ``None`` builds one from the config (starting the local server when no
            endpoint is configured).
        embedder: Embedding model for near-duplicates, consistency and mining; ``None``: the config's.
        on_event: Called with a :class:`~domainemb.progress.StageEvent` as generation starts, after
            each item generated in this run (counting this run's items), and as the pairs are filtered.
        held_out: Precomputed decontamination data; ``None``: loaded from the config's benchmarks.
        teacher: The teacher for consistency, the negative guard and margins; ``None``: the config's
            ``teacher`` (checked before any work starts; ``none`` there leaves the embedding model in charge).

    Returns:
        The output paths and the card.

    Raises:
        DomainembError: for an unusable corpus, missing model or server, or no usable chunk; an
            output path that cannot be written; no pair generated although items were planned.

    Example:
        >>> config = SynthConfig(domain="finance", corpus="docs/", out="work/pairs/finance.jsonl", generator="ict")
        >>> synthesize(config).card.counts.by_kind
        {'short-long': 1208}
    """
    start = time.perf_counter()
    check_output_file(config.out)
    if embedder is None:  # the embedding model's backend, checked before any work
        from domainemb.evaluation.backends import check_backend, check_exportable_name

        check_exportable_name(config.embedding_model or "minilm", check_backend(config.backend))
    teacher = teacher if teacher is not None else load_teacher(config.teacher)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    corpus = read_corpus(config.corpus)
    if held_out is None:
        benchmarks = config.benchmarks or tuple(find_benchmarks(config.domain))
        held_out = load_held_out(config.domain, benchmarks, config.decontam_ngram)
    drops: dict[str, int] = {}
    chunks = _training_chunks(corpus, config, held_out, drops)
    gen = generate(planned_chunks(chunks, config, drops), config, client, on_event)
    _check_generated(gen, config)
    if on_event:
        on_event(StageEvent("filtering the pairs, mining hard negatives"))
    search: dict[str, Any] = {}
    pairs = postprocess(gen.pairs, chunks, config, embedder, drops, held_out, teacher, search)
    write_pairs(config.out, pairs)
    card = _card(config, corpus, chunks, gen, pairs, drops, held_out, start, teacher, search or None)
    write_json(config.card_path, card.to_dict())
    return SynthResult(config.out, config.card_path, card)


def _check_generated(gen: Generation, config: SynthConfig) -> None:
    """A run whose every planned item failed (endpoint down, 500s, garbage) is an error, not an empty success."""
    if not gen.items or gen.pairs:
        return
    reasons = Counter(r.get("reason", "unknown") for r in gen.failures.values())
    why = ", ".join(f"{reason}={n}" for reason, n in sorted(reasons.items())) or "no reason recorded"
    raise DomainembError(
        f"no pair generated: all {len(gen.items)} planned items failed ({why}); each failure and its detail is in "
        f"{config.failed_path}; rerun the same command to retry them"
    )


@dataclass
class Generation:
    """What generation left in the logs for the planned items: pairs in plan order, failures, tokens."""

    items: list[WorkItem]
    pairs: list[Pair]
    failures: dict[str, dict[str, Any]]
    tokens: dict[str, int]
    stats: dict[str, Any]


def generate(
    chunks: list[Chunk], config: SynthConfig, client: LLMClient | None = None, on_event: OnEvent | None = None
) -> Generation:
    """Plan items over ``chunks`` and generate the ones not yet in the run's logs (resumable).

    Returns every planned item's outcome, from this run or an earlier one.
    """
    config.out.parent.mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {}
    llm = config.generator is Generator.LLM
    style = prompt_style(config, client) if llm else None
    items = _plan(chunks, config, style)
    with ExitStack() as stack:
        done = stack.enter_context(AppendLog(config.raw_path))
        failed = stack.enter_context(AppendLog(config.failed_path, latest=True))
        todo = [i for i in items if i.key not in done]
        stats["resumed"] = len(items) - len(todo)
        if done.torn:
            log.warning("%s: cut a torn last line left by an interrupted run", config.raw_path)
        log.info("%d items planned, %d already done, %d to generate", len(items), stats["resumed"], len(todo))
        if on_event:
            on_event(_generated(config, 0, len(todo)))
        if llm and todo:
            endpoint = _endpoint(config, client, stack)
            # llama.cpp's server answers one request at a time: a queue of 16 would only wait (and time out);
            # two in flight keep it busy while an answer is parsed.
            concurrency = min(config.concurrency, LOCAL_CONCURRENCY) if endpoint.local else config.concurrency
            asyncio.run(_run_llm(todo, endpoint.client, config, concurrency, done, failed, on_event))
            usage = getattr(endpoint.client, "usage", None)
            if usage is not None:
                stats["requests"] = usage.requests
                stats["retries"] = dict(sorted(usage.retries.items()))
            stats["llm_model"] = endpoint.client.model
            stats["local_server"] = endpoint.local
        elif todo:
            _run_local(todo, config, done, failed, on_event)
        if style is not None:
            stats["prompt_style"] = style.value
        pairs = [
            pair_from_record(done.records[i.key], str(config.raw_path), strict=True) for i in items if i.key in done
        ]
        planned = {i.key for i in items}
        failures = {k: r for k, r in failed.records.items() if k not in done and k in planned}
        tokens = _tokens(done, failed)
    return Generation(items, pairs, failures, tokens, stats)


def _training_chunks(corpus: Corpus, config: SynthConfig, held_out: HeldOut, drops: dict[str, int]) -> list[Chunk]:
    docs = [d for d in corpus.documents if d.id not in held_out.test_doc_ids]
    drops["test-documents"] = len(corpus.documents) - len(docs)
    # structure pairs need chunks that stay inside one section and know its heading
    cut = section_chunks if config.generator is Generator.STRUCTURE else chunk_corpus
    chunks = cut(docs, config.chunk_tokens, config.chunk_overlap)
    clean = [c for c in chunks if not held_out.touches(c.text)]
    drops["contaminated-chunks"] = len(chunks) - len(clean)
    if drops["test-documents"] or drops["contaminated-chunks"]:
        log.info(
            "left out %d test documents and %d chunks overlapping the benchmark's test data",
            drops["test-documents"],
            drops["contaminated-chunks"],
        )
    if not clean:
        raise DomainembError(
            f"{config.corpus}: no chunk left after leaving out the benchmark's test documents and data"
        )
    return clean


def planned_chunks(
    chunks: list[Chunk],
    config: SynthConfig,
    drops: dict[str, int],
    *,
    what: str = "training chunks",
    limit_flag: str = "--limit",
) -> list[Chunk]:
    """The chunks items are planned from: for ``structure`` those under a usable heading, for ``ict`` and
    ``crop`` those their pair function can use (:func:`domainemb.synth.generate.usable`), for ``llm`` all.

    A chunk left out is a plan-time drop (``drops["too-short-for-ict"]``, ...), not a failed item, so
    ``--limit N`` plans N items that can succeed. Every chunk stays in the retrieval pool either way
    (consistency, negatives). ``synth`` and the corpus task (:mod:`domainemb.synth.corpus_task`, whose
    chunks are its test documents' and its limit ``--corpus-limit``) both plan here.

    Raises:
        DomainembError: when no chunk is usable.
    """
    if config.generator is Generator.STRUCTURE:
        selection = select_sections(chunks, config)
        drops.update(selection.drops)
        return selection.chunks
    reason = UNUSABLE_REASON.get(config.generator)
    if reason is None:
        return chunks
    kept = [c for c in chunks if usable(config.generator, c.text)]
    drops[reason] = len(chunks) - len(kept)
    log.info(
        "%s: %d of %d %s are usable (%s=%d)",
        config.generator,
        len(kept),
        len(chunks),
        what,
        reason,
        drops[reason],
    )
    if not kept:
        raise DomainembError(
            f"{config.corpus}: no chunk the {config.generator} generator can use: all {len(chunks)} {what} "
            f"are too short ({requirement(config.generator)})"
        )
    possible = len(kept) * config.per_chunk
    if config.limit and possible < config.limit:
        log.warning(
            "%s %d: only %d of %d %s are usable by the %s generator (%s=%d), so %d items are planned",
            limit_flag,
            config.limit,
            len(kept),
            len(chunks),
            what,
            config.generator,
            reason,
            drops[reason],
            possible,
        )
    return kept


def _external_url(config: SynthConfig) -> str | None:
    return config.base_url or os.environ.get("OPENAI_BASE_URL") or None


def prompt_style(config: SynthConfig, client: LLMClient | None = None) -> PromptStyle:
    """The configured style, else fewshot for the local server and chat for an external endpoint or a given client."""
    if config.prompt_style is not None:
        return config.prompt_style
    return PromptStyle.CHAT if client is not None or _external_url(config) else PromptStyle.FEWSHOT


def _endpoint(config: SynthConfig, client: LLMClient | None, stack: ExitStack) -> _Endpoint:
    """The client to use: the given one, the configured endpoint, or the local server (started here, stopped with ``stack``)."""
    if client is not None:
        return _Endpoint(client, local=False)
    retry = RetryPolicy(max_retries=config.max_retries)
    base_url = _external_url(config)
    if base_url:
        if not config.llm_model:
            raise DomainembError("an external endpoint needs a model name: pass --llm-model")
        log.info("using the endpoint %s with model %s", redact_url(base_url), config.llm_model)
        return _Endpoint(OpenAIClient(config.llm_model, base_url, config.timeout, retry, config.seed), local=False)
    from domainemb.synth.server import LocalServer

    server = stack.enter_context(
        LocalServer(threads=config.server_threads, log_file=config.out.with_name(f"{config.out.stem}.server.log"))
    )
    # The local server answers one request at a time; a long timeout keeps queued requests from retrying.
    timeout = max(config.timeout, 600.0)
    if config.llm_model and config.llm_model != server.model_name:
        log.warning(
            "--llm-model %s is ignored: no endpoint is configured, so the local %s answers",
            config.llm_model,
            server.model_name,
        )
    # The user's OpenAI key has no business with the local server.
    client = OpenAIClient(server.model_name, server.base_url, timeout, retry, config.seed, api_key="local")
    return _Endpoint(client, local=True)


def _plan(chunks: list[Chunk], config: SynthConfig, style: PromptStyle | None) -> list[WorkItem]:
    if style is None:
        return plan(chunks, config, [], {})
    personas = personas_for(config.domain, config.personas_file)
    templates = {k: load_template(k, style, config.templates_dir) for k in config.effective_kinds}
    return plan(chunks, config, personas, templates)


def _record(item: WorkItem, pair: Pair, tally: Counter) -> dict[str, Any]:
    record = pair.to_record()
    if item.values:
        record["attributes"] = item.values
    if tally:
        record["usage"] = dict(tally)
    return record


def _failure(item: WorkItem, exc: ItemFailed, tally: Counter) -> dict[str, Any]:
    return {**item.record_base(), "reason": exc.reason, "detail": exc.detail, "usage": dict(tally)}


async def _run_llm(
    items: list[WorkItem],
    client: LLMClient,
    config: SynthConfig,
    concurrency: int,
    done: AppendLog,
    failed: AppendLog,
    on_event: OnEvent | None,
) -> None:
    pending = iter(items)
    finished = 0

    class _Tallying:
        """Counts the tokens of one item's calls while forwarding them to the shared client."""

        def __init__(self, tally: Counter) -> None:
            self.model, self.tally = client.model, tally

        async def complete(self, request):
            response = await client.complete(request)
            self.tally["prompt"] += response.prompt_tokens
            self.tally["completion"] += response.completion_tokens
            return response

    async def worker() -> None:
        nonlocal finished
        for item in pending:  # one shared iterator: each item goes to exactly one worker
            tally: Counter = Counter()
            try:
                pair, _ = await llm_pair(item, _Tallying(tally), config)
            except ItemFailed as exc:
                failed.append(_failure(item, exc, tally))
            else:
                done.append(_record(item, pair, tally))
            finished += 1
            if on_event:
                on_event(_generated(config, finished, len(items)))

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(items)))))
    finally:
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()


#: The LLM-free generators: item and seed -> pair (raising ItemFailed).
_LOCAL_GENERATORS = {Generator.ICT: ict_pair, Generator.CROP: crop_pair, Generator.STRUCTURE: structure_pair}


def _run_local(
    items: list[WorkItem], config: SynthConfig, done: AppendLog, failed: AppendLog, on_event: OnEvent | None
) -> None:
    make = _LOCAL_GENERATORS[config.generator]
    for n, item in enumerate(items, start=1):
        try:
            done.append(_record(item, make(item, config.seed), Counter()))
        except ItemFailed as exc:
            failed.append(_failure(item, exc, Counter()))
        if on_event:
            on_event(_generated(config, n, len(items)))


def _generated(config: SynthConfig, done: int, total: int) -> StageEvent:
    """Generation's progress: ``done`` of this run's ``total`` items finished."""
    return StageEvent(f"synth {config.domain} ({config.generator})", done=done, total=total)


def _tokens(done: AppendLog, failed: AppendLog) -> dict[str, int]:
    total: Counter = Counter()
    for record in (*done.values(), *failed.values()):
        total.update(record.get("usage") or {})
    return {"prompt": total["prompt"], "completion": total["completion"]}


def postprocess(
    pairs: list[Pair],
    chunks: list[Chunk],
    config: SynthConfig,
    embedder: TextEmbedder | None,
    drops: dict[str, int],
    held_out: HeldOut | None = None,
    teacher: Teacher | None = None,
    search: dict[str, Any] | None = None,
) -> list[Pair]:
    """Decontaminate (when ``held_out`` is given), deduplicate, filter by ranking consistency, mine negatives.

    ``chunks`` is the retrieval pool for consistency and mining; ``drops`` receives each step's count
    (with a ``teacher``, ``teacher-guard`` counts mined negatives its false-negative guard dropped);
    ``search``, when given, receives how the pool was searched (:mod:`domainemb.synth.ann`) and what the
    teacher scored. A pool of ``ann_threshold`` chunks or more is searched through an IVF index whose
    centroids are kept beside the output (``<stem>.pool.ivf.npz``), as the pool's embeddings are.
    """
    if held_out is not None:
        step = decontaminate(pairs, held_out)
        drops["decontamination"] = step.dropped
        pairs = step.pairs
    step = dedupe_exact(pairs)
    drops["duplicate-exact"] = step.dropped
    pairs = step.pairs
    needs_model = config.near_duplicate < 1.0 or config.consistency_top_k or config.negatives
    if not pairs or not needs_model:
        drops["duplicate-near"] = drops["ranking-consistency"] = 0
        return pairs
    embedder = embedder or SentenceTransformerEmbedder(config.embedding_model, backend=config.backend)
    t = time.perf_counter()
    query_emb = embedder.encode([p.query for p in pairs])
    if config.near_duplicate < 1.0:
        near, query_emb = dedupe_near(pairs, query_emb, config.near_duplicate)
        pairs = near.pairs
        drops["duplicate-near"] = near.dropped
    else:
        drops["duplicate-near"] = 0
    pool_emb = _pool_embeddings(embedder, chunks, config.out.with_name(f"{config.out.stem}.pool.npz"))
    pool_index = None  # near duplicates only: the pool is not searched
    if config.consistency_top_k or config.negatives:
        index_cache = config.out.with_name(f"{config.out.stem}.pool.ivf.npz")
        pool_index = pool_search(pool_emb, config.ann_threshold, config.seed, index_cache)
    ranked = rank_and_mine(pairs, query_emb, chunks, pool_emb, embedder, config, teacher, pool_index)
    if search is not None and ranked.search is not None:
        search.update(ranked.search)
    drops["ranking-consistency"] = ranked.dropped
    if ranked.guarded is not None:  # the teacher was consulted
        drops["teacher-guard"] = ranked.guarded
    log.info("post-processing with %s took %.1fs", embedder.name, time.perf_counter() - t)
    return ranked.pairs


def _pool_embeddings(embedder: TextEmbedder, chunks: list[Chunk], cache: Path) -> np.ndarray:
    """Embeddings of the retrieval pool, kept beside the output: a rerun (or a resumed run) skips the
    largest encoding job. The cache is used only for the same model and exactly the same chunks."""
    fingerprint = stable_hash(embedder.name, *(c.text for c in chunks))
    if cache.is_file():
        try:
            with np.load(cache) as data:
                if str(data["fingerprint"]) == fingerprint:
                    return data["embeddings"]
        except (OSError, ValueError, KeyError):
            log.warning("%s: unreadable embedding cache; encoding again", cache)
    emb = embedder.encode([c.text for c in chunks])

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object, so numpy does not append ".npz" to the name
            np.savez(fh, embeddings=emb, fingerprint=np.array(fingerprint))

    write_atomic(cache, save)
    return emb


def _card(
    config: SynthConfig,
    corpus: Corpus,
    chunks: list[Chunk],
    gen: Generation,
    pairs: list[Pair],
    drops: dict[str, int],
    held_out: HeldOut,
    start: float,
    teacher: Teacher | None = None,
    search: dict[str, Any] | None = None,
) -> SynthCard:
    items, failures, tokens, stats = gen.items, gen.failures, gen.tokens, gen.stats
    consulted = teacher is not None and "teacher-guard" in drops
    cost = None
    if config.price_prompt is not None or config.price_completion is not None:
        cost = round(
            (tokens["prompt"] * (config.price_prompt or 0) + tokens["completion"] * (config.price_completion or 0))
            / 1e6,
            6,
        )
    return SynthCard(
        counts=PairCounts(
            pairs=len(pairs),
            by_persona=dict(sorted(Counter(p.persona or "(none)" for p in pairs).items())),
            by_kind=dict(sorted(Counter(p.kind.value for p in pairs).items())),
            by_generator=dict(sorted(Counter(p.generator.value for p in pairs).items())),
            with_negatives=sum(1 for p in pairs if p.negatives),
        ),
        drops=drops,
        failed=FailedItems(
            total=len(failures),
            by_reason=dict(sorted(Counter(r["reason"] for r in failures.values()).items())),
        ),
        items=ItemCounts(planned=len(items), generated=len(items) - len(failures), resumed=stats.get("resumed", 0)),
        tokens=TokenCounts(prompt=tokens["prompt"], completion=tokens["completion"]),
        cost_usd=cost,
        wall_time_s=round(time.perf_counter() - start, 3),
        llm=LlmUsage.from_dict(stats),
        corpus=CorpusInfo(
            path=str(config.corpus),
            fingerprint=corpus.fingerprint,
            documents=len(corpus.documents),
            training_chunks=len(chunks),
            skipped_files=corpus.skip_counts,
            bad_jsonl_lines=corpus.bad_lines,
        ),
        decontamination=Decontamination(
            against=tuple(held_out.sources), test_texts=held_out.texts, ngram=config.decontam_ngram
        ),
        config=config.to_dict(),
        kinds=tuple(k.value for k in config.effective_kinds),
        domainemb_version=domainemb.__version__,
        teacher=TeacherInfo(
            **teacher.describe(),
            guard=config.teacher_guard,
            guard_dropped=drops["teacher-guard"],
            labelled_pairs=sum(1 for p in pairs if p.margins),
        )
        if consulted
        else None,
        search=search,
    )
