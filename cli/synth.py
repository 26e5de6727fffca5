"""`domainemb synth` and `domainemb export-corpus`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from domainemb.cli._common import console, out, user_errors
from domainemb.cli.options import config_options
from domainemb.cli.progress import StageProgress
from domainemb.domains.corpora import SENTENCES_PER_PASSAGE
from domainemb.synth.config import SynthConfig
from domainemb.types import Domain

if TYPE_CHECKING:
    from domainemb.synth_card import SynthCard

app = typer.Typer()


@app.command("synth")
@user_errors
@config_options(SynthConfig, optional=("out",))
def synth(**settings: Any) -> None:
    """Synthesize training pairs from your documents (resumable: rerun the same command to continue)."""
    from domainemb.synth.pipeline import synthesize

    if settings["out"] is None:
        settings["out"] = Path("work") / "synth" / Domain(settings["domain"]).value / "pairs.jsonl"
    config = SynthConfig(**settings)
    with StageProgress(f"synth {config.domain} ({config.generator})") as progress:
        result = synthesize(config, on_event=progress)
    _summary(result.card, result.out)


def _summary(card: SynthCard, path: Path) -> None:
    counts = card.counts
    table = Table(title=f"{counts.pairs} pairs -> {path}  [{card.wall_time_s:.1f}s]", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")

    def fmt(counts_by: dict) -> str:
        return ", ".join(f"{k}={v}" for k, v in counts_by.items()) or "-"

    table.add_row("by kind", fmt(counts.by_kind))
    table.add_row("by generator", fmt(counts.by_generator))
    table.add_row("personas", f"{len([p for p in counts.by_persona if p != '(none)'])} used")
    table.add_row("items", fmt(asdict(card.items)))
    table.add_row("failed", fmt(card.failed.by_reason) if card.failed.total else "0")
    table.add_row("dropped", fmt({k: v for k, v in card.drops.items() if v}))
    table.add_row("skipped files", fmt(card.corpus.skipped_files))
    if card.teacher is not None:
        t = card.teacher
        table.add_row(
            "teacher", f"{t.name} ({t.kind}): {t.labelled_pairs} pairs labelled, guard dropped {t.guard_dropped}"
        )
    if card.search is not None:
        student = card.search.get("student", {})
        how = f"{student.get('kind')} over {student.get('pool')} chunks, top {card.search.get('k')}"
        if "nprobe" in student:
            how += f" (nprobe {student['nprobe']} of {student['nlist']} lists, recall {student['recall']})"
        if card.search.get("teacher"):
            how += f"; teacher: {card.search['teacher']}"
        table.add_row("search", how)
    llm = card.llm.to_dict()  # only what the run recorded
    if llm:
        table.add_row("llm", fmt({k: v for k, v in llm.items() if k != "retries"}))
        table.add_row("retries", fmt(card.llm.retries or {}))
    cost = f"  ~${card.cost_usd:.4f}" if card.cost_usd is not None else ""
    table.add_row("tokens", f"prompt={card.tokens.prompt}, completion={card.tokens.completion}{cost}")
    out.print(table)


@app.command("export-corpus")
@user_errors
def export_corpus(
    domain: Annotated[Domain, typer.Option(help="Whose training-side texts to export.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Target folder (default: work/corpus/DOMAIN).")] = None,
    sentences_per_passage: Annotated[
        int,
        typer.Option(help="Consecutive transcript sentences in one training-corpus passage (windows do not overlap)."),
    ] = SENTENCES_PER_PASSAGE,
) -> None:
    """Export a domain's training-side texts and training corpora (never its benchmark test data) for `synth`."""
    from domainemb.domains.corpora import PassageConfig
    from domainemb.synth.export import export_corpus as export

    passages = PassageConfig(sentences_per_passage=sentences_per_passage)
    result = export(domain, out_dir or Path("work") / "corpus" / domain.value, passages=passages)
    table = Table(title=f"{result.texts} {domain} texts -> {result.path}")
    table.add_column("task or training corpus")
    table.add_column("texts", justify="right")
    table.add_column("licence", overflow="fold")
    for task, n in result.card["by_task"].items():
        table.add_row(task, str(n), result.card["licences"][task])
    for corpus, entry in result.card["corpora"].items():
        table.add_row(
            f"{corpus} ({entry['unit']})", str(entry["passages"]), f"{entry['licence_flag']}: {entry['licence']}"
        )
    out.print(table)
    drops = ", ".join(f"{k}={v}" for k, v in result.card["drops"].items())
    console.print(f"dropped: {drops or 'none'}; skipped: {', '.join(result.card['skipped_tasks']) or 'none'}")
