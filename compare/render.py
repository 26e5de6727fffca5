"""``domainemb report``: one self-contained HTML page from a comparison's result files.

The page is rendered by jinja2 with autoescaping on, so every dataset text, task name and model
name is escaped. CSS and JavaScript are inlined, plots are inline SVG, and a Content-Security-Policy
allows only the page's own script (by hash), so the page makes no network request and no script
that slipped into the data could run. It reads only files (``analysis.json`` and optional adapt
and prune reports); it never runs a model.

Optional sections are found by their ``format`` key in JSON files under RESULTS_DIR and read into
their typed result (:class:`~domainemb.adapt.compare.Comparison`,
:class:`~domainemb.prune.report.PruneReport`); to show a new kind of file, add its format to
:data:`EXTRA_SECTIONS` with its reader and a template partial.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup

import domainemb
from domainemb.compare import plots
from domainemb.compare.analysis import DOMAIN, GENERAL
from domainemb.compare.analysis_file import ANALYSIS_FILE, Analysis, SuiteInfo, read_analysis
from domainemb.errors import DomainembError

log = logging.getLogger(__name__)

REPORT_FILE = "index.html"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "domainemb-report-manifest/1"


def _read_comparison(path: Path) -> Any:
    from domainemb.adapt.compare import Comparison

    return Comparison.from_disk(path)


def _read_prune_report(path: Path) -> Any:
    from domainemb.prune.report import PruneReport

    return PruneReport.from_disk(path)


@dataclass(frozen=True)
class ExtraSection:
    """A kind of optional result file the report shows: its section title, template partial and reader.

    ``read`` turns the file into its typed result (the partial sees it as ``extra.data``); it raises
    ``ValueError``, ``KeyError`` or ``TypeError`` for a file it cannot read.
    """

    title: str
    template: str
    read: Callable[[Path], Any]


@dataclass(frozen=True)
class FoundSection:
    """An optional section found on disk: the file (as shown), its title, partial and typed content."""

    file: str
    title: str
    template: str
    data: Any


#: format key of a JSON file -> how to show it.
EXTRA_SECTIONS = {
    "domainemb-adapt-comparison/1": ExtraSection("Adapted model: before and after", "_adapt.html.j2", _read_comparison),
    "domainemb-prune-report/1": ExtraSection("Pruned model", "_prune.html.j2", _read_prune_report),
}
#: Folders of bulk outputs that never hold a section file.
_SKIP_DIRS = {"results", "predictions", "report", "checkpoints", "model", ".git"}
_MAX_EXTRA_BYTES = 20_000_000


def render_report(results_dir: Path, out: Path, include: tuple[Path, ...] = ()) -> Path:
    """Render ``results_dir`` (a ``domainemb compare`` output) into ``out/index.html``.

    Adapt comparisons and prune reports under ``results_dir``, or in the files and folders of
    ``include``, get their own sections.

    Also writes ``out/manifest.json``: what the page was made from (analysis checksum, models and
    their fingerprints, benchmark checksums, versions, command); a model adapt or prune made also has
    its ``origin`` there (kind, fingerprint, the command that made it, what it was trained on).

    Raises:
        DomainembError: no readable analysis in ``results_dir``, or a section file that names a
            known format but cannot be read as one.
    """
    from domainemb.atomic import write_atomic
    from domainemb.jsonio import write_json

    analysis = read_analysis(results_dir)
    extras = [section for folder in (results_dir, *include) for section in find_extra_sections(folder)]
    html = render_html(analysis, extras)
    page = out / REPORT_FILE
    write_atomic(page, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    source = results_dir / ANALYSIS_FILE
    provenance = analysis.provenance
    write_json(
        out / MANIFEST_FILE,
        {
            "format": MANIFEST_FORMAT,
            "page": REPORT_FILE,
            "analysis_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "analysis_created": analysis.created,
            "domain": analysis.domain,
            "size": analysis.size,
            "models": {name: _manifest_model(name, model, analysis) for name, model in provenance.models.items()},
            "benchmarks": {key: asdict(benchmark) for key, benchmark in provenance.benchmarks.items()},
            "command": provenance.command,
            "domainemb_version": provenance.domainemb_version,
            "mteb_version": provenance.mteb_version,
            "extra_sections": [extra.file for extra in extras],
        },
    )
    return page


def _manifest_model(name: str, model: Any, analysis: Analysis) -> dict[str, Any]:
    """A model's filed name and fingerprint; for a model adapt or prune made, also its origin's kind,
    fingerprint, the command that made it and what it was trained on."""
    entry = asdict(model)
    origin = analysis.origins.get(name)
    if origin is not None:  # absent for every other model, so their entries are as before
        entry["origin"] = {
            "kind": origin.kind.value,
            "fingerprint": origin.fingerprint,
            "command": origin.command,
            "base": asdict(origin.base),
            "trained_on": origin.trained_on(),
        }
    return entry


def find_extra_sections(results_dir: Path) -> list[FoundSection]:
    """Adapt comparisons, prune reports (any format in :data:`EXTRA_SECTIONS`) in a file or under a folder.

    Raises:
        DomainembError: ``results_dir`` does not exist, or a file names a known format but cannot
            be read as one.
    """
    if not results_dir.exists():
        raise DomainembError(f"{results_dir}: no such file or folder")
    if results_dir.is_file():
        section = _extra_section(results_dir, results_dir.name)
        return [section] if section else []
    found = []
    for root, dirs, files in os.walk(results_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        if len(Path(root).relative_to(results_dir).parts) > 3:
            dirs[:] = []
        for name in sorted(files):
            path = Path(root) / name
            section = _extra_section(path, path.relative_to(results_dir).as_posix())
            if section:
                found.append(section)
    return found


def _extra_section(path: Path, label: str) -> FoundSection | None:
    if not path.name.endswith(".json") or path.stat().st_size > _MAX_EXTRA_BYTES:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") not in EXTRA_SECTIONS:
        return None
    section = EXTRA_SECTIONS[data["format"]]
    try:
        content = section.read(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise DomainembError(
            f"{path}: a {data['format']} file, but not a complete one ({type(exc).__name__}: {exc})"
        ) from None
    return FoundSection(file=label, title=section.title, template=section.template, data=content)


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("domainemb.compare", "templates"),
        autoescape=True,  # dataset text is untrusted: everything is escaped unless marked safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["signed"] = _signed
    env.filters["pvalue"] = _pvalue
    env.filters["sortkey"] = _sortkey
    env.filters["slug"] = _slug
    env.filters["si"] = _si
    return env


def _num(value: Any, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, (int, float)):
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return str(value)


def _signed(value: Any, digits: int = 3) -> str:
    return _num(value, digits, signed=True)


def _sortkey(value: Any) -> str:
    return "" if value is None else f"{value}"


def _pvalue(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _si(value: float | None, unit: str = "") -> str:
    """``22.7 M``, ``90.9 MB``: a count or size with a decimal prefix; a dash for ``None``."""
    if value is None:
        return "—"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f} {prefix}{unit}"
    return f"{value:g} {unit}".strip()


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in str(name))


def _static(name: str) -> str:
    return resources.files("domainemb.compare").joinpath("static", name).read_text(encoding="utf-8")


def render_html(analysis: Analysis, extras: list[FoundSection] | None = None) -> str:
    """The report page for one analysis (see :func:`render_report`)."""
    script = _static("report.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    template = _environment().get_template("report.html.j2")
    return template.render(
        analysis=analysis,
        stats=analysis.statistics,
        view=_view(analysis),
        extras=extras or [],
        css=Markup(_static("report.css")),
        script=Markup(script),
        # Nothing may load; only this exact script may run (no handler or script from data).
        csp=f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; img-src data:; base-uri 'none'; form-action 'none'",
        rendered=datetime.now(UTC).isoformat(timespec="seconds"),
        renderer_version=domainemb.__version__,
    )


# ----------------------------------------------------------------------------- view model
@dataclass(frozen=True)
class SuiteView:
    """One suite as the page shows it: its label, task types, leaderboard columns, and its info."""

    label: str
    types: list[str]
    scopes: list[str]
    info: SuiteInfo


@dataclass(frozen=True)
class ComplexityPlot:
    """Score against one complexity measure (``svg`` is ``None`` when no task has the measure)."""

    measure: str
    label: str
    svg: Markup | None


@dataclass(frozen=True)
class ReportView:
    """What the page draws from the analysis: colours, plots, and lookups by task.

    Args:
        models: Model names in report order; ``colours`` gives each its colour, ``legend`` shows them.
        suites: ``domain`` and ``general``.
        common_types: Task types both suites have (the gap columns).
        scatter / bars: The plots, as inline SVG.
        complexity_plots: Score against each complexity measure.
        task_type / task_suite: Task -> its type, and the suite key it belongs to.
        llm_reason: Why the LLM error rate was not computed, when it was not.
        cost: The Cost section (throughput, size, bytes per vector, quantized scores); ``None`` for
            an analysis without cost data, which draws no such section.
        origins: Model -> its :class:`~domainemb.model_origin.ModelOrigin`, for the models adapt or
            prune made (marked "domain model" / "pruned model", with what they were trained on).
    """

    models: list[str]
    colours: dict[str, str]
    legend: Markup
    suites: dict[str, SuiteView]
    common_types: list[str]
    scatter: Markup
    bars: dict[str, Markup]
    complexity_plots: list[ComplexityPlot]
    task_type: dict[str, str]
    task_suite: dict[str, str]
    llm_reason: str | None
    cost: CostView | None = None
    origins: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CostRow:
    """One model in the Cost table (``profile`` is its :class:`~domainemb.compare.cost.CostProfile`).

    Args:
        domain_score: Its mean main score over every task of the domain suite.
        variants: Precision label -> mean score on the rescored tasks (``float32``, ``int8``, ``binary``).
        binary_kept: Binary's score as a share of float32's; ``None`` when not rescored.
        truncated: Each truncated dimension's float32 / int8 / binary scores, as ``@dim: a / b / c``.
        on_front: Whether it is on the Pareto front of throughput and domain score.
    """

    profile: Any
    domain_score: float | None
    variants: dict[str, float | None]
    binary_kept: float | None
    truncated: list[str]
    on_front: bool


@dataclass(frozen=True)
class CostView:
    """The Cost section: how the costs were measured, the table, and its two plots.

    Args:
        conditions: ``(model, conditions)`` of each throughput whose conditions were recorded
            (:meth:`~domainemb.compare.cost.MeasurementConditions.describe`), in report order.
        load_warning: Why the throughputs are not comparable (:func:`~domainemb.compare.cost.load_warning`).
    """

    summary: Any
    rows: list[CostRow]
    throughput_plot: Markup
    bytes_plot: Markup
    conditions: list[tuple[str, str]] = field(default_factory=list)
    load_warning: str | None = None


def _view(analysis: Analysis) -> ReportView:
    models = analysis.model_names
    colours = {model: plots.colour(i) for i, model in enumerate(models)}
    suites = {}
    for key in (DOMAIN, GENERAL):
        info = analysis.suites[key]
        types = sorted({task.type for task in info.tasks})
        suites[key] = SuiteView(label=info.domain, types=types, scopes=["overall", *types], info=info)
    return ReportView(
        models=models,
        colours=colours,
        legend=plots.legend(colours),
        suites=suites,
        common_types=[task_type for task_type in suites[DOMAIN].types if task_type in suites[GENERAL].types],
        scatter=_scatter(analysis, models, colours),
        bars={key: _bars(analysis, key, suites[key].types, models, colours) for key in suites},
        complexity_plots=_complexity_plots(analysis),
        task_type={task.name: task.type for key in suites for task in analysis.suites[key].tasks},
        task_suite={task.name: key for key in suites for task in analysis.suites[key].tasks},
        llm_reason=next(
            (
                measured.llm_note.removeprefix("not computed: ")
                for measured in analysis.complexity.tasks.values()
                if measured.llm_error_rate is None
            ),
            None,
        ),
        cost=_cost_view(analysis, models, colours) if analysis.costs is not None else None,
        origins={model: analysis.origins[model] for model in models if model in analysis.origins},
    )


def _cost_view(analysis: Analysis, models: list[str], colours: dict[str, str]) -> CostView:
    from domainemb.compare.cost import load_warning, pareto_front

    costs = analysis.costs
    means = analysis.statistics.means[DOMAIN]
    domain = analysis.suites[DOMAIN].domain
    ordered = [p for m in models if (p := costs.profile(m)) is not None]
    domain_score = {p.model: means.get(p.model, {}).get("overall") for p in ordered}
    domain_score = {m: e.value if e is not None else None for m, e in domain_score.items()}
    plotted = [p for p in ordered if p.throughput and domain_score[p.model] is not None]
    front = pareto_front([(p.throughput, domain_score[p.model]) for p in plotted])
    on_front = {plotted[i].model for i in front}
    rows = []
    for p in ordered:
        full = {v.precision: v.domain_score for v in p.variants if not v.truncated}
        kept = (
            full["binary"] / full["float32"]
            if full.get("binary") is not None and full.get("float32") not in (None, 0)
            else None
        )
        rows.append(
            CostRow(
                profile=p,
                domain_score=domain_score[p.model],
                variants=full,
                binary_kept=kept,
                truncated=_truncated_cells(p.variants),
                on_front=p.model in on_front,
            )
        )
    points = [
        plots.Point(
            x=p.throughput,
            y=domain_score[p.model],
            label=p.model,
            colour=colours.get(p.model, plots.colour(0)),
            title=f"{p.model}: {p.throughput:.1f} texts/s, {domain} mean {domain_score[p.model]:.3f}",
        )
        for p in plotted
    ]
    throughput_plot = plots.pareto_scatter(
        points,
        front,
        "throughput (texts per second, log scale)",
        f"{domain} suite mean",
        f"{domain} suite mean against encode throughput",
    )
    series = [
        plots.Curve(
            label=p.model,
            colour=colours.get(p.model, plots.colour(0)),
            points=tuple(
                plots.Point(
                    x=v.bytes_per_vector,
                    y=v.domain_score,
                    label=v.label,
                    colour=colours.get(p.model, plots.colour(0)),
                    title=f"{p.model} {v.label}: {v.bytes_per_vector} bytes, mean {v.domain_score:.3f}",
                )
                for v in p.variants
                if v.domain_score is not None
            ),
        )
        for p in ordered
        if p.variants
    ]
    bytes_plot = plots.curves(
        series,
        "bytes per vector (log scale)",
        f"{domain} retrieval and STS mean",
        f"{domain} retrieval and STS mean against bytes per vector",
    )
    return CostView(
        summary=costs,
        rows=rows,
        throughput_plot=throughput_plot,
        bytes_plot=bytes_plot,
        conditions=[(p.model, text) for p in ordered if p.conditions is not None and (text := p.conditions.describe())],
        load_warning=load_warning(ordered),
    )


def _truncated_cells(variants: Any) -> list[str]:
    """``@128: 0.590 / 0.585 / 0.500``: each truncated dimension's float32 / int8 / binary score."""
    by_dim: dict[int, dict[str, float | None]] = {}
    for v in variants:
        if v.truncated:
            by_dim.setdefault(v.dim, {})[v.precision] = v.domain_score
    return [
        f"@{dim}: " + " / ".join(_num(scores.get(p)) for p in ("float32", "int8", "binary"))
        for dim, scores in sorted(by_dim.items(), reverse=True)
    ]


def _scatter(analysis: Analysis, models: list[str], colours: dict[str, str]) -> Markup:
    means = analysis.statistics.means
    points = []
    for model in models:
        domain_mean = means[DOMAIN][model]["overall"].value
        general_mean = means[GENERAL][model]["overall"].value
        if domain_mean is not None and general_mean is not None:
            points.append(
                plots.Point(
                    x=general_mean,
                    y=domain_mean,
                    label=model,
                    colour=colours[model],
                    title=f"{model}: general {general_mean:.3f}, domain {domain_mean:.3f}",
                )
            )
    domain = analysis.suites[DOMAIN].domain
    return plots.scatter(
        points, "general suite mean", f"{domain} suite mean", f"General vs {domain} mean score per model", diagonal=True
    )


def _bars(analysis: Analysis, key: str, types: list[str], models: list[str], colours: dict[str, str]) -> Markup:
    bars = []
    for model in models:
        for task_type in types:
            estimate = analysis.statistics.means[key][model].get(task_type)
            if estimate is not None and estimate.value is not None:
                bars.append(
                    plots.Bar(
                        group=task_type,
                        series=model,
                        value=estimate.value,
                        low=estimate.low,
                        high=estimate.high,
                        colour=colours[model],
                    )
                )
    label = analysis.suites[key].domain
    return plots.bars(bars, types, models, "mean main score", f"{label} suite: mean main score per task type")


def _complexity_plots(analysis: Analysis) -> list[ComplexityPlot]:
    from domainemb.compare.complexity import Measure

    out = []
    measured = analysis.complexity.tasks
    for measure, label in analysis.complexity.measures.items():
        points = []
        for key in (DOMAIN, GENERAL):
            for task, by_model in analysis.statistics.task_scores[key].items():
                value = measured[task].value(Measure(measure)) if task in measured else None
                scores = [estimate.value for estimate in by_model.values() if estimate.value is not None]
                if value is None or not scores:
                    continue
                mean = sum(scores) / len(scores)
                points.append(
                    plots.Point(
                        x=value,
                        y=mean,
                        label=task,
                        colour=plots.SUITE_COLOURS[key],
                        title=f"{task} ({key}): {label} {value:.3f}, mean score {mean:.3f}",
                    )
                )
        svg = (
            plots.scatter(points, label, "mean main score over models", f"Score against {label}", labels=False)
            if points
            else None
        )
        out.append(ComplexityPlot(measure=measure, label=label, svg=svg))
    return out
