"""`domainemb evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from domainemb.cli._common import console, out, user_errors
from domainemb.cli.options import BACKEND_OPTION
from domainemb.cli.progress import StageProgress

app = typer.Typer()


@app.command("evaluate")
@user_errors
def evaluate(
    benchmark: Annotated[Path, typer.Option(help="A benchmark folder written by `domainemb build-benchmark`.")],
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="minilm, mpnet, glove, bm25, bow, a sentence-transformers folder or a hub id. Repeatable.",
            show_default="minilm",
        ),
    ] = None,
    tasks: Annotated[
        list[str] | None, typer.Option("--tasks", help="Only these tasks (repeatable).", show_default="all")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Results folder (mteb layout under OUT/results).")] = Path(
        "results"
    ),
    overwrite: Annotated[bool, typer.Option(help="Re-run tasks already scored for the same model and data.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of each task's sampling.")] = 42,
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.")] = 32,
    cache: Annotated[
        Path | None, typer.Option(help="Embedding cache file.", show_default="$DOMAINEMB_CACHE/embeddings.sqlite")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the embedding cache.")] = False,
    save_predictions: Annotated[
        bool, typer.Option(help="Also keep mteb's per-item predictions (OUT/predictions), for bootstrap intervals.")
    ] = False,
    devices: Annotated[
        str | None,
        typer.Option(
            help="Devices to encode on, comma-separated: cpu,cpu or cuda:0,cuda:1 start one process per device.",
            show_default="sentence-transformers' choice",
        ),
    ] = None,
    backend: Annotated[str, BACKEND_OPTION] = "torch",
) -> None:
    """Score models on a built benchmark with mteb's evaluators; print a table of main scores."""
    from domainemb.evaluation.devices import parse_devices
    from domainemb.evaluation.encoders import DEFAULT_MODEL
    from domainemb.evaluation.run import EvaluateConfig
    from domainemb.evaluation.run import evaluate as run

    config = EvaluateConfig(
        benchmark=benchmark,
        models=tuple(model or (DEFAULT_MODEL,)),
        tasks=tuple(tasks or ()),
        out=out_dir,
        overwrite=overwrite,
        seed=seed,
        batch_size=batch_size,
        cache=cache,
        use_cache=not no_cache,
        save_predictions=save_predictions,
        devices=parse_devices(devices) if devices is not None else (),
        backend=backend,
    )
    # The display starts with the first task, once the input is checked: an error stays a single line.
    with StageProgress("evaluating", start=False) as progress:
        result = run(config, on_event=progress)

    table = Table(title=f"main scores -> {result.out}  [{result.seconds:.1f}s]")
    models = list(dict.fromkeys(s.provenance.model for s in result.scores))
    table.add_column("task")
    table.add_column("type")
    table.add_column("metric")
    for name in models:
        table.add_column(name, justify="right")
    by_task: dict[str, dict[str, str]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for s in result.scores:
        by_task.setdefault(s.task, {})[s.provenance.model] = f"{s.main_score:.4f}" + (
            "" if not s.reused else " [dim](kept)[/]"
        )
        meta[s.task] = (s.task_type, s.main_score_name)
    for task, cells in by_task.items():
        table.add_row(task, *meta[task], *(cells.get(m, "") for m in models))
    out.print(table)
    if result.cache.hits or result.cache.stored:
        console.print(f"embedding cache: {result.cache.hits} texts found, {result.cache.stored} encoded and stored")
