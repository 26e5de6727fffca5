"""`domainemb synth` and `domainemb export-corpus`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from domainemb.cli._common import console, out, user_errors
from domainemb.errors import DomainembError
from domainemb.suites import DEFAULT_BENCHMARKS
from domainemb.synth.config import Generator, PairKind, PromptStyle
from domainemb.types import Domain

app = typer.Typer()


def parse_ranks(text: str) -> tuple[int, int]:
    try:
        first, last = (int(x) for x in text.split(":"))
    except ValueError:
        raise DomainembError(f"--mine-ranks must look like FIRST:LAST (e.g. 10:210), got {text!r}") from None
    return first, last


@app.command("synth")
@user_errors
def synth(
    domain: Annotated[
        Domain, typer.Option(help="Domain of the corpus: personas, classification tasks, decontamination benchmark.")
    ],
    corpus: Annotated[Path, typer.Option(help="Folder of documents (txt, md, html, jsonl, pdf).")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Output JSONL (default: work/synth/DOMAIN/pairs.jsonl).")
    ] = None,
    generator: Annotated[
        Generator, typer.Option(help="llm: an LLM writes queries; ict / crop: LLM-free baselines.")
    ] = Generator.LLM,
    kind: Annotated[
        list[PairKind] | None,
        typer.Option("--kind", help="Pair kinds for the llm generator (repeatable; default: all)."),
    ] = None,
    personas: Annotated[Path | None, typer.Option(help="YAML file of extra personas.")] = None,
    per_chunk: Annotated[int, typer.Option(help="Examples per chunk.")] = 1,
    limit: Annotated[
        int | None, typer.Option(help="Generate at most this many examples (sampled across documents).")
    ] = None,
    chunk_tokens: Annotated[int, typer.Option(help="Chunk size in whitespace tokens.")] = 160,
    chunk_overlap: Annotated[int, typer.Option(help="Tokens shared by consecutive chunks.")] = 32,
    prompt_style: Annotated[
        PromptStyle | None,
        typer.Option(help="fewshot (default for the local server) or chat (default for an endpoint)."),
    ] = None,
    templates: Annotated[
        Path | None, typer.Option(help="Folder of prompt templates overriding the shipped ones.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible endpoint (else OPENAI_BASE_URL; else the local llama.cpp server)."),
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model name at the endpoint.")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds per request before it is retried.")] = 60.0,
    max_retries: Annotated[int, typer.Option(help="Retries per request (429, 5xx, timeouts, connection errors).")] = 5,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
    max_tokens: Annotated[int, typer.Option(help="Token limit of an answer.")] = 256,
    price_prompt: Annotated[
        float | None, typer.Option(help="USD per million prompt tokens, for the cost estimate.")
    ] = None,
    price_completion: Annotated[float | None, typer.Option(help="USD per million completion tokens.")] = None,
    negatives: Annotated[int, typer.Option(help="Hard negatives mined per pair.")] = 3,
    mine_ranks: Annotated[str, typer.Option(help="Rank window FIRST:LAST that negatives are drawn from.")] = "10:210",
    mine_margin: Annotated[float, typer.Option(help="Skip negatives scoring above this times the positive.")] = 0.95,
    consistency_top_k: Annotated[int, typer.Option(help="Drop pairs whose positive ranks below this (0: off).")] = 20,
    near_duplicate: Annotated[
        float, typer.Option(help="Query cosine similarity that counts as a near duplicate.")
    ] = 0.95,
    benchmark: Annotated[
        list[Path] | None,
        typer.Option(
            help=f"Built benchmark(s) to decontaminate against (default: the domain's under {DEFAULT_BENCHMARKS})."
        ),
    ] = None,
    embedding_model: Annotated[
        str | None, typer.Option(help="Model for mining and filtering (default: packaged MiniLM).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads of the local LLM server.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every sampling decision.")] = 42,
) -> None:
    """Synthesize training pairs from your documents (resumable: rerun the same command to continue)."""
    from domainemb.synth.config import SynthConfig
    from domainemb.synth.pipeline import synthesize

    config = SynthConfig(
        domain=domain,
        corpus=corpus,
        out=out_file or Path("work") / "synth" / domain.value / "pairs.jsonl",
        generator=generator,
        kinds=tuple(kind or PairKind),
        personas_file=personas,
        per_chunk=per_chunk,
        limit=limit,
        chunk_tokens=chunk_tokens,
        chunk_overlap=chunk_overlap,
        prompt_style=prompt_style,
        templates_dir=templates,
        base_url=base_url,
        llm_model=llm_model,
        concurrency=concurrency,
        timeout=timeout,
        max_retries=max_retries,
        temperature=temperature,
        max_tokens=max_tokens,
        price_prompt=price_prompt,
        price_completion=price_completion,
        negatives=negatives,
        mine_ranks=parse_ranks(mine_ranks),
        mine_margin=mine_margin,
        consistency_top_k=consistency_top_k,
        near_duplicate=near_duplicate,
        benchmarks=tuple(benchmark or ()),
        embedding_model=embedding_model,
        server_threads=threads,
        seed=seed,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task(f"synth {domain} ({generator})", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        result = synthesize(config, on_progress=on_progress)
    _summary(result.card, result.out)


def _summary(card: dict, path: Path) -> None:
    counts, llm = card["counts"], card["llm"]
    table = Table(title=f"{counts['pairs']} pairs -> {path}  [{card['wall_time_s']:.1f}s]", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")

    def fmt(counts_by: dict) -> str:
        return ", ".join(f"{k}={v}" for k, v in counts_by.items()) or "-"

    table.add_row("by kind", fmt(counts["by_kind"]))
    table.add_row("by generator", fmt(counts["by_generator"]))
    table.add_row("personas", f"{len([p for p in counts['by_persona'] if p != '(none)'])} used")
    table.add_row("items", fmt(card["items"]))
    table.add_row("failed", fmt(card["failed"]["by_reason"]) if card["failed"]["total"] else "0")
    table.add_row("dropped", fmt({k: v for k, v in card["drops"].items() if v}))
    table.add_row("skipped files", fmt(card["corpus"]["skipped_files"]))
    if llm:
        table.add_row("llm", fmt({k: v for k, v in llm.items() if k != "retries"}))
        table.add_row("retries", fmt(llm.get("retries", {})))
    tokens = card["tokens"]
    cost = f"  ~${card['cost_usd']:.4f}" if card["cost_usd"] is not None else ""
    table.add_row("tokens", f"prompt={tokens['prompt']}, completion={tokens['completion']}{cost}")
    out.print(table)


@app.command("export-corpus")
@user_errors
def export_corpus(
    domain: Annotated[Domain, typer.Option(help="Whose training-side texts to export.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Target folder (default: work/corpus/DOMAIN).")] = None,
) -> None:
    """Export a domain's training-side texts (never its benchmark test data) as a corpus folder for `synth`."""
    from domainemb.synth.export import export_corpus as export

    result = export(domain, out_dir or Path("work") / "corpus" / domain.value)
    table = Table(title=f"{result.texts} {domain} texts -> {result.path}")
    table.add_column("task")
    table.add_column("texts", justify="right")
    table.add_column("licence", overflow="fold")
    for task, n in result.card["by_task"].items():
        table.add_row(task, str(n), result.card["licences"][task])
    out.print(table)
    drops = ", ".join(f"{k}={v}" for k, v in result.card["drops"].items())
    console.print(f"dropped: {drops or 'none'}; skipped: {', '.join(result.card['skipped_tasks']) or 'none'}")
