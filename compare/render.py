"""``domainemb report``: one self-contained HTML page from a comparison's result files.

The page is rendered by jinja2 with autoescaping on, so every dataset text, task name and model
name is escaped. CSS and JavaScript are inlined, plots are inline SVG, and a Content-Security-Policy
allows only the page's own script (by hash), so the page makes no network request and no script
that slipped into the data could run. It reads only files (``analysis.json`` and optional adapt
and prune reports); it never runs a model.

Optional sections are found by their ``format`` key in JSON files under RESULTS_DIR; to show a new
kind of file, add its format to :data:`EXTRA_SECTIONS` with a template partial.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup

import domainemb
from domainemb.compare import plots
from domainemb.errors import DomainembError

log = logging.getLogger(__name__)

REPORT_FILE = "index.html"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "domainemb-report-manifest/1"


@dataclass(frozen=True)
class ExtraSection:
    """A kind of optional result file the report shows: its section title and template partial."""

    title: str
    template: str


#: format key of a JSON file -> how to show it.
EXTRA_SECTIONS = {
    "domainemb-adapt-comparison/1": ExtraSection("Adapted model: before and after", "_adapt.html.j2"),
    "domainemb-prune-report/1": ExtraSection("Pruned model", "_prune.html.j2"),
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
        DomainembError: no readable analysis in ``results_dir``.
    """
    from domainemb.atomic import write_atomic
    from domainemb.compare.run import ANALYSIS_FILE, read_analysis
    from domainemb.jsonio import write_json

    analysis = read_analysis(results_dir)
    extras = [e for folder in (results_dir, *include) for e in find_extra_sections(folder)]
    html = render_html(analysis, extras)
    page = out / REPORT_FILE
    write_atomic(page, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    source = results_dir / ANALYSIS_FILE
    write_json(
        out / MANIFEST_FILE,
        {
            "format": MANIFEST_FORMAT,
            "page": REPORT_FILE,
            "analysis_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "analysis_created": analysis.get("created"),
            "domain": analysis.get("domain"),
            "size": analysis.get("size"),
            "models": analysis.get("provenance", {}).get("models", {}),
            "benchmarks": analysis.get("provenance", {}).get("benchmarks", {}),
            "command": analysis.get("provenance", {}).get("command"),
            "domainemb_version": analysis.get("provenance", {}).get("domainemb_version"),
            "mteb_version": analysis.get("provenance", {}).get("mteb_version"),
            "extra_sections": [e["file"] for e in extras],
        },
    )
    return page


def find_extra_sections(results_dir: Path) -> list[dict[str, Any]]:
    """Adapt comparisons, prune reports (any format in :data:`EXTRA_SECTIONS`) in a file or under a folder.

    Raises:
        DomainembError: ``results_dir`` does not exist.
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


def _extra_section(path: Path, label: str) -> dict[str, Any] | None:
    if not path.name.endswith(".json") or path.stat().st_size > _MAX_EXTRA_BYTES:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") not in EXTRA_SECTIONS:
        return None
    section = EXTRA_SECTIONS[data["format"]]
    return {"file": label, "title": section.title, "template": section.template, "data": data}


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
    env.filters["signed"] = lambda v, d=3: _num(v, d, signed=True)
    env.filters["pvalue"] = _pvalue
    env.filters["sortkey"] = lambda v: "" if v is None else f"{v}"
    env.filters["slug"] = _slug
    return env


def _num(value: Any, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, (int, float)):
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return str(value)


def _pvalue(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in str(name))


def _static(name: str) -> str:
    return resources.files("domainemb.compare").joinpath("static", name).read_text(encoding="utf-8")


def render_html(analysis: dict[str, Any], extras: list[dict[str, Any]] | None = None) -> str:
    """The report page for one analysis (see :func:`render_report`)."""
    script = _static("report.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    view = _view(analysis)
    template = _environment().get_template("report.html.j2")
    return template.render(
        a=analysis,
        v=view,
        extras=extras or [],
        css=Markup(_static("report.css")),
        script=Markup(script),
        # Nothing may load; only this exact script may run (no handler or script from data).
        csp=f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; img-src data:; base-uri 'none'; form-action 'none'",
        rendered=datetime.now(UTC).isoformat(timespec="seconds"),
        renderer_version=domainemb.__version__,
    )


# ----------------------------------------------------------------------------- view model
def _view(a: dict[str, Any]) -> dict[str, Any]:
    models = [m["name"] for m in a["models"]]
    colours = {m: plots.colour(i) for i, m in enumerate(models)}
    suites = {}
    for key in ("domain", "general"):
        info = a["suites"][key]
        types = sorted({t["type"] for t in info["tasks"]})
        suites[key] = {"label": info["domain"], "types": types, "scopes": ["overall", *types], "info": info}
    return {
        "models": models,
        "colours": colours,
        "legend": plots.legend(colours),
        "suites": suites,
        "common_types": [t for t in suites["domain"]["types"] if t in suites["general"]["types"]],
        "scatter": _scatter(a, models, colours),
        "bars": {key: _bars(a, key, suites[key]["types"], models, colours) for key in suites},
        "complexity_plots": _complexity_plots(a, models),
        "task_type": {t["name"]: t["type"] for key in suites for t in a["suites"][key]["tasks"]},
        "task_suite": {t["name"]: key for key in suites for t in a["suites"][key]["tasks"]},
        "llm_reason": next(
            (
                c["llm_note"].removeprefix("not computed: ")
                for c in a["complexity"]["tasks"].values()
                if c.get("llm_error_rate") is None
            ),
            None,
        ),
    }


def _scatter(a: dict[str, Any], models: list[str], colours: dict[str, str]) -> Markup:
    points = []
    for m in models:
        d = a["means"]["domain"][m]["overall"]["value"]
        g = a["means"]["general"][m]["overall"]["value"]
        if d is not None and g is not None:
            points.append(
                plots.Point(x=g, y=d, label=m, colour=colours[m], title=f"{m}: general {g:.3f}, domain {d:.3f}")
            )
    domain = a["suites"]["domain"]["domain"]
    return plots.scatter(
        points, "general suite mean", f"{domain} suite mean", f"General vs {domain} mean score per model", diagonal=True
    )


def _bars(a: dict[str, Any], key: str, types: list[str], models: list[str], colours: dict[str, str]) -> Markup:
    bars = []
    for m in models:
        for t in types:
            e = a["means"][key][m].get(t)
            if e and e["value"] is not None:
                bars.append(
                    plots.Bar(group=t, series=m, value=e["value"], low=e["low"], high=e["high"], colour=colours[m])
                )
    label = a["suites"][key]["domain"]
    return plots.bars(bars, types, models, "mean main score", f"{label} suite: mean main score per task type")


def _complexity_plots(a: dict[str, Any], models: list[str]) -> list[dict[str, Any]]:
    out = []
    tasks = a["complexity"]["tasks"]
    for measure, label in a["complexity"]["measures"].items():
        points = []
        for key in ("domain", "general"):
            for task, by_model in a["task_scores"][key].items():
                value = tasks.get(task, {}).get(measure)
                scores = [e["value"] for e in by_model.values() if e["value"] is not None]
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
        out.append({"measure": measure, "label": label, "svg": svg})
    return out
