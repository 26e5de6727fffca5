"""The index page of a folder of published reports (``reports/index.html``).

Each subfolder that holds a report ``manifest.json`` (written by :func:`~domainemb.compare.render.render_report`)
gets one row: domain, size, models, when its analysis was made and the command that made it. The
page reads only those manifests, so it is rebuilt in a moment after any report is regenerated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

import domainemb
from domainemb.atomic import write_atomic
from domainemb.errors import DomainembError

log = logging.getLogger(__name__)

INDEX_FILE = "index.html"


@dataclass(frozen=True)
class PublishedReport:
    """One row of the index: a report folder beside the index page."""

    href: str
    domain: str
    size: str
    models: tuple[str, ...]
    created: str
    command: str


def published_reports(root: Path) -> list[PublishedReport]:
    """The reports in the subfolders of ``root``, by folder name; folders without a report manifest are skipped."""
    from domainemb.compare.render import MANIFEST_FILE, MANIFEST_FORMAT, REPORT_FILE

    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        path = folder / MANIFEST_FILE
        if not path.is_file():
            continue
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise DomainembError(f"{path}: unreadable report manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            log.warning("%s: not a report manifest; not listed", path)
            continue
        found.append(
            PublishedReport(
                href=f"{folder.name}/{manifest.get('page') or REPORT_FILE}",
                domain=str(manifest.get("domain") or folder.name),
                size=str(manifest.get("size") or ""),
                models=tuple(manifest.get("models") or ()),
                created=str(manifest.get("analysis_created") or ""),
                command=str(manifest.get("command") or ""),
            )
        )
    return found


def write_site_index(root: Path) -> Path:
    """Write ``root/index.html`` listing every report folder under ``root``.

    Raises:
        DomainembError: ``root`` is not a folder, holds no report, or holds an unreadable manifest.
    """
    from domainemb.compare.render import _environment, _static

    if not root.is_dir():
        raise DomainembError(f"{root}: no such folder of reports")
    reports = published_reports(root)
    if not reports:
        raise DomainembError(f"{root}: no report folder (a subfolder with a report manifest.json) to list")
    html = (
        _environment()
        .get_template("site_index.html.j2")
        .render(reports=reports, css=Markup(_static("report.css")), renderer_version=domainemb.__version__)
    )
    page = root / INDEX_FILE
    write_atomic(page, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return page
