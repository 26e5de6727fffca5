"""`domainemb compare` and `domainemb report`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from domainemb.cli._common import out, user_errors
from domainemb.cli.options import BACKEND_OPTION
from domainemb.cli.progress import StageProgress
from domainemb.compare.cost import DEFAULT_SAMPLE_TEXTS
from domainemb.suites import DEFAULT_BENCHMARKS
from domainemb.types import Domain, Size, TaskType

if TYPE_CHECKING:
    from domainemb.compare.analysis_file import Analysis

app = typer.Typer()


@app.command("compare")
@user_errors
def compare(
    domain: Annotated[Domain, typer.Argument(help="The domain suite to compare with the general suite.")],
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="minilm, mpnet, glove, a sentence-transformers folder or a hub id. Repeatable; bm25 and bow are always added."
        ),
    ] = None,
    size: Annotated[Size, typer.Option(help="Suite size (built into --benchmarks when absent).")] = Size.LITE,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: work/compare/DOMAIN-SIZE).")
    ] = None,
    benchmarks: Annotated[Path, typer.Option(help="Folder of built suites, DOMAIN-SIZE each.")] = DEFAULT_BENCHMARKS,
    domain_benchmark: Annotated[
        Path | None, typer.Option(help="A built domain benchmark to use instead (e.g. with your own tasks).")
    ] = None,
    general_benchmark: Annotated[Path | None, typer.Option(help="A built general benchmark to use instead.")] = None,
    tasks: Annotated[
        list[str] | None, typer.Option("--tasks", help="Only these tasks, from either suite (repeatable).")
    ] = None,
    task_type: Annotated[
        list[TaskType] | None, typer.Option("--type", help="Only tasks of these types (repeatable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of evaluation, bootstrap and complexity samples.")] = 42,
    bootstrap_samples: Annotated[int, typer.Option(help="Bootstrap resamples per interval.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.")] = 32,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the embedding cache.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Re-run tasks already scored.")] = False,
    complexity_texts: Annotated[int, typer.Option(help="Texts sampled per task for the complexity measures.")] = 100,
    llm_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint for the LLM error rate.")] = None,
    llm_model: Annotated[
        str | None, typer.Option(help="Model at the endpoint; without it the LLM error rate is not computed.")
    ] = None,
    report: Annotated[bool, typer.Option(help="Also render the HTML report into OUT/report.")] = True,
    devices: Annotated[
        str | None,
        typer.Option(
            help="Devices to encode on, comma-separated: cpu,cpu or cuda:0,cuda:1 start one process per device.",
            show_default="sentence-transformers' choice",
        ),
    ] = None,
    cost_texts: Annotated[
        int,
        typer.Option(
            help="Domain-suite texts encoded (after one warm-up batch) to measure each model's throughput; 0 measures no cost.",
        ),
    ] = DEFAULT_SAMPLE_TEXTS,
    quantized: Annotated[
        bool,
        typer.Option(
            help="Also score dense models on the domain retrieval and STS tasks with int8 and binary vectors "
            "(and at the Matryoshka dimensions of an adapted model)."
        ),
    ] = True,
    backend: Annotated[str, BACKEND_OPTION] = "torch",
) -> None:
    """Score models on a domain suite and the general suite, and analyse how far the rankings agree."""
    from domainemb.compare.config import CompareConfig
    from domainemb.compare.run import compare as run
    from domainemb.evaluation.devices import parse_devices
    from domainemb.evaluation.encoders import DEFAULT_MODEL

    config = CompareConfig(
        domain=domain,
        models=tuple(model or (DEFAULT_MODEL,)),
        size=size,
        out=out_dir,
        benchmarks=benchmarks,
        domain_benchmark=domain_benchmark,
        general_benchmark=general_benchmark,
        tasks=tuple(tasks or ()),
        task_types=tuple(task_type or ()),
        seed=seed,
        bootstrap_samples=bootstrap_samples,
        batch_size=batch_size,
        use_cache=not no_cache,
        overwrite=overwrite,
        complexity_texts=complexity_texts,
        llm_base_url=llm_base_url,
        llm_model=llm_model,
        cost_sample_texts=cost_texts,
        rescore_quantized=quantized,
        devices=parse_devices(devices) if devices is not None else (),
        backend=backend,
    )
    with StageProgress("comparing") as progress:
        result = run(config, on_event=progress)
    _print_summary(result.analysis, result.seconds)
    if result.kept:
        out.print(
            f"kept: every result is unchanged since the analysis of {result.analysis.created}; "
            "no model loaded, nothing scored or measured (--overwrite runs it again)"
        )
    out.print(f"analysis: {result.analysis_path}")
    if report:
        from domainemb.compare.render import render_report

        page = render_report(result.out, result.out / "report")
        out.print(f"report: {page}")


@app.command("report")
@user_errors
def report(
    results_dir: Annotated[Path, typer.Argument(help="A `domainemb compare` output folder (holding analysis.json).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Site folder; index.html is written there.")] = Path("site"),
    include: Annotated[
        list[Path] | None,
        typer.Option(help="An adapt comparison or prune report (file or folder) to add as a section. Repeatable."),
    ] = None,
    site_index: Annotated[
        bool,
        typer.Option(
            "--site-index/--no-site-index",
            help="Also rewrite the index page of OUT's parent folder, listing every report folder beside OUT.",
        ),
    ] = False,
) -> None:
    """Render a comparison as one self-contained HTML page (no network needed to open it)."""
    from domainemb.compare.render import render_report
    from domainemb.compare.site_index import write_site_index
    from domainemb.outputs import check_output_folder

    check_output_folder(out_dir)
    page = render_report(results_dir, out_dir, include=tuple(include or ()))
    out.print(f"report: {page}")
    if site_index:
        out.print(f"index: {write_site_index(out_dir.resolve().parent)}")


def _print_summary(analysis: Analysis, seconds: float) -> None:
    domain = analysis.domain
    stats = analysis.statistics
    table = Table(title=f"{domain} vs general, mean main score over tasks  [{seconds:.1f}s]")
    for column in ("model", domain, "general", "gap"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for name in analysis.model_names:
        domain_mean = stats.means["domain"][name]["overall"].value
        general_mean = stats.means["general"][name]["overall"].value
        gap = stats.gaps[name].get("overall")
        table.add_row(name, _fmt(domain_mean), _fmt(general_mean), _fmt(gap, signed=True))
    table.caption = "— : missing, the model does not serve every selected task type (see the report per type)"
    out.print(table)
    overall = stats.rank_agreement.get("overall")
    if overall is not None and overall.rho is not None:
        out.print(
            f"rank agreement (Spearman): rho = {overall.rho:.2f}, p = {overall.p_value:.3g} over {overall.n_models} models"
        )


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
