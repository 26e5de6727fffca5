"""`domainemb prune`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from domainemb.cli._common import console, out, user_errors
from domainemb.cli.progress import StageProgress
from domainemb.prune.methods import MethodName
from domainemb.types import Domain

app = typer.Typer()


@app.command("prune")
@user_errors
def prune(
    model: Annotated[str, typer.Option(help="minilm, mpnet, a sentence-transformers folder or a hub id.")],
    domain: Annotated[
        Domain, typer.Option(help="Domain whose data calibrate the scores and whose suite measures the loss.")
    ],
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Run folder: model/, model.sparse/, calibration/, results/, prune_report.json."),
    ],
    method: Annotated[MethodName, typer.Option(help="How FFN weights are scored.")] = MethodName.GAPRUNE,
    sparsity: Annotated[
        float, typer.Option(help="Fraction of FFN weights (or neurons, with --structured) removed, in (0, 1).")
    ] = 0.5,
    retrain_steps: Annotated[
        int,
        typer.Option(
            help="Retraining steps after pruning: distillation from the dense model on domain text "
            "(retrain_loss: infonce in --config for InfoNCE on the pairs); 0 for one-shot."
        ),
    ] = 0,
    structured: Annotated[
        bool, typer.Option("--structured", help="Remove whole FFN neurons so the matrices shrink.")
    ] = False,
    pairs: Annotated[
        Path | None,
        typer.Option(help="Domain pairs from `domainemb synth` (JSONL). [default: the domain suite's train splits]"),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="YAML file of further settings (variant, alpha, calibration sizes, ...)."),
    ] = None,
    no_eval: Annotated[
        bool, typer.Option("--no-eval", help="Skip scoring dense and pruned model on the suites.")
    ] = False,
    teacher: Annotated[
        str | None,
        typer.Option(
            help="Label the distillation's MarginMSE triples with this model's score(q,p) - score(q,n) instead of "
            "the dense model's: mpnet, a bi-encoder or CrossEncoder folder, a hub id or hybrid:MODEL@W (turns "
            "distill_margins on; needs --retrain-steps N and retrain_loss: distill; the embedding MSE keeps the "
            "dense model as its target). Overrides the config's `teacher`. [default: the dense model]"
        ),
    ] = None,
    export: Annotated[
        str | None,
        typer.Option(
            help="Ship the pruned model's ONNX graph in model/domainemb-onnx/: none, onnx or onnx-int8 "
            "(int8 weights; with --structured, the small fast export). [default: export in --config, else none]"
        ),
    ] = None,
) -> None:
    """Prune a model's FFN weights for a domain (GAPrune or a baseline); save it and a report."""
    from domainemb.model_origin import command_line
    from domainemb.prune.config import PruneConfig
    from domainemb.prune.run import prune as run

    given = {"teacher": teacher} if teacher is not None else {}
    config = PruneConfig.from_yaml(
        config_file,
        model=model,
        domain=domain,
        method=method,
        sparsity=sparsity,
        out=out_dir,
        structured=structured,
        retrain_steps=retrain_steps,
        pairs=pairs,
        **given,
    )
    if no_eval or export is not None:
        from dataclasses import replace

        config = replace(
            config, evaluate=config.evaluate and not no_eval, export=config.export if export is None else export
        )
    with StageProgress("pruning") as progress:
        result = run(config, on_event=progress, command=command_line())
    report = result.report

    label = f"{report.method}/{report.variant}" if report.variant else report.method
    kind = "structured" if report.structured else "unstructured"
    table = Table(title=f"{label} {kind}, FFN sparsity {report.ffn_sparsity:.3f} -> {result.out}")
    for column in ("layer", "up", "down", "total"):
        table.add_column(column, justify="right")
    for row in report.per_layer:
        table.add_row(str(row["layer"]), f"{row['up']:.3f}", f"{row['down']:.3f}", f"{row['total']:.3f}")
    out.print(table)
    if report.suites:
        scores = Table(title="mean main score")
        for column in ("suite", "dense", "pruned", "change %"):
            scores.add_column(column, justify="right")
        for side, suite in report.suites.items():
            scores.add_row(
                side, f"{suite.dense_mean:.4f}", f"{suite.pruned_mean:.4f}", f"{suite.relative_change_pct:+.2f}"
            )
        out.print(scores)
    labels = report.retraining.get("margin_labels")
    if labels:
        who = f"teacher {labels['name']} ({labels['kind']})" if labels["by"] == "teacher" else "the dense model"
        console.print(f"margins of {labels['triples']} triples labelled by {who}")
    sizes = report.size_on_disk
    if "sparse_weights_bytes" in sizes:
        console.print(
            f"weights on disk: {sizes['model_weights_bytes'] / 2**20:.1f} MB dense, {sizes['sparse_weights_bytes'] / 2**20:.1f} MB sparse form"
        )
    if report.export:
        shipped = report.export
        console.print(
            f"{shipped['format']} graph: {result.out / shipped['file']}, {shipped['bytes'] / 2**20:.1f} MB "
            f"({shipped['fraction_of_dense']:.2f} of the dense weights' {shipped['dense_bytes_on_disk'] / 2**20:.1f} MB)"
        )
    console.print(f"time: {', '.join(f'{k} {v:.1f}s' for k, v in report.seconds.items())}")
