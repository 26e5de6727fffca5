"""`domainemb adapt`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from domainemb.cli._common import console, out, user_errors
from domainemb.cli.options import BACKEND_OPTION
from domainemb.cli.progress import StageProgress
from domainemb.types import Domain

app = typer.Typer()


@app.command("adapt")
@user_errors
def adapt(
    base: Annotated[str, typer.Option(help="Base model: minilm, mpnet, a sentence-transformers folder or a hub id.")],
    pairs: Annotated[Path, typer.Option(help="Training pairs written by `domainemb synth` (JSONL).")],
    domain: Annotated[Domain, typer.Option(help="The domain whose suite measures the gain.")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Output folder: model/, comparison.json, adapt.json, results/.")
    ],
    config: Annotated[
        Path | None, typer.Option(help="YAML file of hyper-parameters (AdaptConfig fields); unknown keys are errors.")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run in --out from its last checkpoint.")
    ] = False,
    teacher: Annotated[
        str | None,
        typer.Option(
            help="Bi-encoder teacher of loss distill-kl / mnrl+distill-kl: mpnet, a sentence-transformers folder "
            "or a hub id (overrides the config's `teacher`)."
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help=f"{BACKEND_OPTION.help} Scores base and adapted model on it (training runs on torch); "
            "overrides the config's `backend`.",
            metavar=BACKEND_OPTION.metavar,
            show_default="torch",
        ),
    ] = None,
) -> None:
    """Fine-tune a base model on training pairs; score base and adapted model on the domain and general suites.

    Runs data-parallel unchanged under `torchrun --nproc_per_node N` or `accelerate launch`.
    """
    from domainemb.adapt.config import AdaptConfig
    from domainemb.adapt.run import AdaptHooks, is_main_process
    from domainemb.adapt.run import adapt as run
    from domainemb.model_origin import command_line

    given = {"teacher": teacher} if teacher is not None else {}
    if backend is not None:
        given["backend"] = backend
    settings = AdaptConfig.from_yaml(config, base=base, pairs=pairs, domain=domain, out=out_dir, resume=resume, **given)
    # The display starts with the library's first event, once the input is checked: an error stays a single line.
    with StageProgress("checking input", start=False, show=is_main_process()) as progress:
        result = run(settings, AdaptHooks(on_event=progress), command=command_line())
    if not result.main_process:
        return

    training = result.record["training"]
    console.print(
        f"adapted model -> {result.model_dir}  [{training['steps']} steps, {training['seconds']:.0f}s training, "
        f"{result.record.get('wall_time_s', 0):.0f}s total]"
    )
    if training["dev_score_before"] is not None:
        console.print(f"dev nDCG@10: {training['dev_score_before']:.4f} -> {training['dev_score_after']:.4f}")
    if result.comparison is None:
        return
    confidence = f"{result.comparison.confidence:.0%}"
    table = Table(
        title=f"base -> adapted, change [{confidence} bootstrap interval]  ({result.out / 'comparison.json'})"
    )
    for column in ("suite", "task type", "tasks", "base", "adapted", "change", "interval"):
        table.add_column(column, justify="right" if column in ("tasks", "base", "adapted", "change") else "left")
    for suite_name, suite in result.comparison.suites.items():
        for kind, change in [*suite.by_type.items(), ("all", suite.overall)]:
            interval = "n/a" if change.low is None else f"[{change.low:+.4f}, {change.high:+.4f}]"
            table.add_row(
                suite_name,
                kind,
                str(change.n_tasks),
                f"{change.base:.4f}",
                f"{change.adapted:.4f}",
                f"{change.delta:+.4f}",
                interval,
            )
    out.print(table)
