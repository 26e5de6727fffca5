"""The index page of the published reports (``reports/index.html``)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from domainemb.compare.site_index import published_reports, write_site_index
from domainemb.errors import DomainembError

REPORTS = Path(__file__).resolve().parents[1] / "reports"
PUBLISHED = sorted(p.parent.name for p in REPORTS.glob("*/manifest.json"))


def _copy_manifests(root: Path) -> None:
    for domain in PUBLISHED:
        (root / domain).mkdir(parents=True)
        shutil.copy(REPORTS / domain / "manifest.json", root / domain / "manifest.json")


def test_every_published_report_gets_a_row_with_its_link_and_models(tmp_path):
    _copy_manifests(tmp_path)
    (tmp_path / "not-a-report").mkdir()
    page = write_site_index(tmp_path).read_text(encoding="utf-8")
    assert PUBLISHED == ["chemistry", "finance", "medicine"]
    for domain in PUBLISHED:
        manifest = json.loads((REPORTS / domain / "manifest.json").read_text(encoding="utf-8"))
        assert f'href="{domain}/index.html"' in page
        assert ", ".join(manifest["models"]) in page
    assert "not-a-report" not in page
    assert [r.domain for r in published_reports(tmp_path)] == PUBLISHED


def test_text_from_a_manifest_is_escaped(tmp_path):
    _copy_manifests(tmp_path)
    path = tmp_path / "finance" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["command"] = "<script>alert(1)</script>"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    page = write_site_index(tmp_path).read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_a_folder_without_reports_is_an_error(tmp_path):
    with pytest.raises(DomainembError, match="no report folder"):
        write_site_index(tmp_path)
    with pytest.raises(DomainembError, match="no such folder"):
        write_site_index(tmp_path / "missing")


def test_the_committed_index_lists_the_committed_reports(tmp_path):
    """reports/index.html is what write_site_index makes from reports/ today (apart from the version stamp)."""
    shutil.copytree(REPORTS, tmp_path / "reports")
    fresh = write_site_index(tmp_path / "reports").read_text(encoding="utf-8")
    committed = (REPORTS / "index.html").read_text(encoding="utf-8")

    def unstamped(html: str) -> str:
        return re.sub(r"Listed by domainemb [^<]*\.", "Listed by domainemb VERSION.", html)

    assert unstamped(committed) == unstamped(fresh)
