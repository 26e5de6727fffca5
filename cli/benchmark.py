"""`domainemb build-benchmark` and `domainemb list`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from domainemb.cli._common import out, user_errors
from domainemb.cli.progress import StageProgress
from domainemb.suites import DEFAULT_BENCHMARKS
from domainemb.synth.config import Generator
from domainemb.types import Domain, Size

app = typer.Typer()


@app.command("build-benchmark")
@user_errors
def build_benchmark(
    domain: Annotated[Domain, typer.Argument(help="Which suite to build.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help=f"Target folder (default: {DEFAULT_BENCHMARKS}/DOMAIN-SIZE).")
    ] = None,
    size: Annotated[Size, typer.Option(help="lite: deterministic stratified caps; full: everything.")] = Size.LITE,
    task: Annotated[
        list[Path] | None,
        typer.Option("--task", help="Your own task folder (BEIR layout, or task.yaml + JSONL/CSV). Repeatable."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the lite subsampling.")] = 42,
    corpus: Annotated[
        Path | None,
        typer.Option(help="Your documents: adds a retrieval task with synthesized queries, split by document."),
    ] = None,
    corpus_generator: Annotated[
        Generator, typer.Option(help="Queries of the corpus task: llm, or ict without an LLM.")
    ] = Generator.LLM,
    corpus_test_fraction: Annotated[
        float, typer.Option(help="Share of the documents held out as test documents.")
    ] = 0.2,
    corpus_limit: Annotated[int | None, typer.Option(help="At most this many synthesized queries.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint for the corpus task (else local).")
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model name at --base-url.")] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Refuse a --task BEIR folder as often published (queries with no test judgement or none "
            "relevant, empty documents or queries) instead of leaving those out and counting them in the manifest.",
        ),
    ] = False,
) -> None:
    """Build a self-describing benchmark folder (parquet per task split + manifest.json)."""
    from domainemb.domains.build import BuildConfig
    from domainemb.domains.build import build_benchmark as build
    from domainemb.suites import suite_folder
    from domainemb.synth.corpus_task import corpus_task_for

    extra = ()
    if corpus is not None:
        extra = (
            corpus_task_for(
                domain, corpus, corpus_generator, corpus_test_fraction, corpus_limit, base_url, llm_model, seed
            ),
        )

    config = BuildConfig(
        domain=domain,
        out=out_dir or suite_folder(domain, size),
        size=size,
        user_tasks=tuple(task or ()),
        seed=seed,
        strict=strict,
    )
    with StageProgress(f"building {domain}") as progress:
        result = build(config, on_event=progress, extra_specs=extra)
    table = Table(title=f"{domain} benchmark ({size}) -> {result.path}  [{result.seconds:.1f}s]")
    for col in ("task", "type", "main score", "sizes", "licence"):
        table.add_column(col, overflow="fold")
    for t in result.manifest.tasks:
        sizes = ", ".join(f"{k}={v}" for k, v in t.sizes.items())
        table.add_row(t.name, t.type, t.main_score, sizes, _flag(t.licence_flag))
    out.print(table)


@app.command("list")
@user_errors
def list_tasks(
    domain: Annotated[list[Domain] | None, typer.Option(help="Only these domains (repeatable).")] = None,
    size: Annotated[Size, typer.Option(help="Which build's sizes to show.")] = Size.LITE,
    benchmarks: Annotated[
        Path, typer.Option(help="Where built benchmarks are looked up for sizes.")
    ] = DEFAULT_BENCHMARKS,
) -> None:
    """Show domains, tasks, types, sizes and licences (sizes from built benchmarks), then the training corpora."""
    from domainemb.domains.catalog import catalog, corpus_catalog

    table = Table(title=f"domainemb tasks ({size})")
    for col in ("domain", "task", "type", "main score", "sizes", "licence"):
        table.add_column(col, overflow="fold")
    for row in catalog(domain or list(Domain), size, benchmarks):
        sizes = ", ".join(f"{k}={v}" for k, v in row.sizes.items()) if row.sizes else "(not built)"
        table.add_row(row.domain, row.name, row.type, row.main_score, sizes, _flag(row.licence_flag))
    out.print(table)
    corpora = corpus_catalog(domain or list(Domain))
    if corpora:
        table = Table(title="training corpora (export-corpus; no task uses them)")
        for col in ("domain", "corpus", "passage", "licence", "flag"):
            table.add_column(col, overflow="fold")
        for c in corpora:
            table.add_row(c.domain, c.name, c.unit, c.licence, _flag(c.licence_flag))
        out.print(table)


def _flag(flag: str) -> str:
    return {"NC": "[yellow]NC[/]", "copyleft": "[magenta]copyleft[/]", "unclear": "[dim]unclear[/]"}.get(flag, flag)
