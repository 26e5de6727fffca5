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
from dataclasses import asdict, dataclass
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
    their fingerprints, benchmark checksums, versions, command).

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
            "models": {name: asdict(model) for name, model in provenance.models.items()},
            "benchmarks": {key: asdict(benchmark) for key, benchmark in provenance.benchmarks.items()},
            "command": provenance.command,
            "domainemb_version": provenance.domainemb_version,
            "mteb_version": provenance.mteb_version,
            "extra_sections": [extra.file for extra in extras],
        },
    )
    return page


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
    )


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
