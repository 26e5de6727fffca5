"""`domainemb adapt`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from domainemb.cli._common import console, out, user_errors
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
) -> None:
    """Fine-tune a base model on training pairs; score base and adapted model on the domain and general suites.

    Runs data-parallel unchanged under `torchrun --nproc_per_node N` or `accelerate launch`.
    """
    from domainemb.adapt.config import AdaptConfig
    from domainemb.adapt.progress import TrainingProgress
    from domainemb.adapt.run import AdaptHooks, is_main_process
    from domainemb.adapt.run import adapt as run

    settings = AdaptConfig.from_yaml(config, base=base, pairs=pairs, domain=domain, out=out_dir, resume=resume)
    show = is_main_process()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    # The bar starts once the input is checked, so an error stays a single line.
    progress = Progress(*columns, console=console, transient=True, disable=not show)
    bar = progress.add_task("checking input", total=None, info="")

    def on_stage(text: str) -> None:
        if text == "training" or text.startswith(("scoring", "building")):
            progress.start()
        progress.update(bar, description=text, total=None, completed=0, info="")

    def on_progress(p: TrainingProgress) -> None:
        info = "" if p.loss is None else f"loss {p.loss:.4f}"
        if p.dev_score is not None:
            info += f"  dev nDCG@10 {p.dev_score:.4f}"
        progress.update(bar, description="training", total=p.total, completed=p.step, info=info)

    state = {"started": 0}

    def on_eval_plan(total: int) -> None:
        state["started"] = 0
        progress.update(bar, total=total, completed=0)

    def on_eval_task(model: str, task: str) -> None:
        if state["started"]:
            progress.advance(bar)
        state["started"] += 1
        progress.update(bar, description=f"{Path(model).name}: {task}")

    hooks = AdaptHooks(on_stage=on_stage, on_progress=on_progress, on_eval_plan=on_eval_plan, on_eval_task=on_eval_task)
    try:
        result = run(settings, hooks)
    finally:
        progress.stop()
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
