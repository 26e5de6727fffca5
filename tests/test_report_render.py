"""`domainemb report`: the page is self-contained, escapes dataset text, shows missing cells, adds optional sections."""

from __future__ import annotations

import json
import re

import pytest
from compare_data import write_synthetic_results
from typer.testing import CliRunner

from domainemb.adapt.compare import Change, Comparison, SuiteComparison
from domainemb.cli.main import app
from domainemb.compare.render import MANIFEST_FILE, render_report
from domainemb.errors import DomainembError
from domainemb.prune.report import PruneReport, SuiteScores
from domainemb.suites import ModelRef

runner = CliRunner()


def test_report_is_self_contained_and_escaped(tmp_path):
    results = write_synthetic_results(tmp_path / "results")
    page = render_report(results, tmp_path / "site")
    html = page.read_text(encoding="utf-8")
    # Only the page's own script; no payload tag survives unescaped.
    assert html.count("<script>") == 1 and "<script>window.__xss" not in html
    assert "&lt;script&gt;window.__xss" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
    assert "<svg onload" not in html
    # No network: nothing fetched by URL, and a CSP that forbids it.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp and "default-src &#39;none&#39;" in csp.group(1) and "script-src &#39;sha256-" in csp.group(1)


def test_missing_cells_are_shown_as_missing(tmp_path):
    results = write_synthetic_results(tmp_path / "results", payload=False)
    html = render_report(results, tmp_path / "site").read_text(encoding="utf-8")
    board = html[html.index('id="leaderboard-domain"') : html.index("</table>", html.index('id="leaderboard-domain"'))]
    bm25 = board[board.index(">bm25<") :].split("</tr>")[0]
    assert bm25.count('class="num missing"') == 4  # overall, Classification, Clustering, STS
    assert "0.000" not in bm25


def test_manifest_records_what_made_the_page(tmp_path):
    results = write_synthetic_results(tmp_path / "results", payload=False)
    render_report(results, tmp_path / "site")
    manifest = json.loads((tmp_path / "site" / MANIFEST_FILE).read_text())
    assert manifest["domain"] == "finance" and manifest["command"].startswith("domainemb compare")
    assert len(manifest["analysis_sha256"]) == 64 and manifest["models"]["minilm"]["fingerprint"]


def _adapt_comparison() -> Comparison:
    change = Change(base=0.5, adapted=0.6, delta=0.1, low=0.05, high=0.15, n_tasks=3, confidence=0.95)
    forgetting = Change(base=0.5, adapted=0.49, delta=-0.01, low=-0.02, high=0.0, n_tasks=3, confidence=0.95)

    def suite(overall: Change, by_type: dict[str, Change]) -> SuiteComparison:
        return SuiteComparison(benchmark="b", benchmark_checksum="c", tasks=(), by_type=by_type, overall=overall)

    return Comparison(
        domain="finance",
        base=ModelRef(name="minilm", model_name="m", fingerprint="f"),
        adapted=ModelRef(name="work/adapted<i>", model_name="a", fingerprint="g"),
        suites={"domain": suite(change, {"Retrieval": change}), "general": suite(forgetting, {})},
        seed=42,
        bootstrap_samples=1000,
        confidence=0.95,
        domainemb_version="0.1.0",
        mteb_version="2.0",
        created="2026-01-01T00:00:00+00:00",
    )


def _prune_report() -> PruneReport:
    return PruneReport(
        model="minilm",
        model_fingerprint="f" * 64,
        domain="finance",
        method="gaprune",
        variant="paper",
        structured=False,
        target_sparsity=0.5,
        ranking="global",
        hyperparameters={},
        per_layer=[],
        ffn_sparsity=0.5,
        model_sparsity=0.3,
        ffn_width=None,
        calibration={},
        seconds={},
        scoring_peak_memory_mb=None,
        retrain_steps=0,
        size_on_disk={},
        suites={"domain": SuiteScores("b", "c", {"T": 0.6}, {"T": 0.58}, 0.6, 0.58, -3.3)},
    )


def test_adapt_and_prune_sections_when_present(tmp_path):
    results = write_synthetic_results(tmp_path / "results", payload=False)
    (tmp_path / "adapt-run").mkdir()  # outside the results folder: named with include
    _adapt_comparison().to_disk(tmp_path / "adapt-run" / "comparison.json")
    _prune_report().to_disk(results)
    html = render_report(results, tmp_path / "site", include=(tmp_path / "adapt-run",)).read_text(encoding="utf-8")
    assert "Adapted model: before and after" in html and "work/adapted&lt;i&gt;" in html and "+0.100" in html
    assert "Pruned model" in html and "gaprune" in html and "-3.30" in html


def test_a_section_file_that_is_not_complete_is_an_error(tmp_path):
    """A file in a known format that cannot be read as its typed result is named, not drawn half."""
    results = write_synthetic_results(tmp_path / "results", payload=False)
    partial = {"format": "domainemb-prune-report/1", "model": "minilm", "method": "gaprune"}
    (results / "prune_report.json").write_text(json.dumps(partial))
    with pytest.raises(DomainembError, match="prune_report.json: a domainemb-prune-report/1 file, but not a complete"):
        render_report(results, tmp_path / "site")


def test_report_command(tmp_path):
    results = write_synthetic_results(tmp_path / "results", payload=False)
    result = runner.invoke(app, ["report", str(results), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "site" / "index.html").is_file()
    (results / "analysis.json").write_text(json.dumps({"format": "something-else"}))
    result = runner.invoke(app, ["report", str(results), "--out", str(tmp_path / "site")])
    assert result.exit_code == 2 and "not a comparison analysis" in result.output
    results = write_synthetic_results(tmp_path / "results", payload=False)
    result = runner.invoke(
        app, ["report", str(results), "--out", str(tmp_path / "site"), "--include", str(tmp_path / "nowhere")]
    )
    assert result.exit_code == 2 and "no such file or folder" in result.output


def test_report_command_refreshes_the_site_index(tmp_path):
    results = write_synthetic_results(tmp_path / "results", payload=False)
    site = tmp_path / "site"
    for domain in ("finance", "medicine"):
        result = runner.invoke(app, ["report", str(results), "--out", str(site / domain), "--site-index"])
        assert result.exit_code == 0, result.output
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="finance/index.html"' in index and 'href="medicine/index.html"' in index
    result = runner.invoke(app, ["report", str(results), "--out", str(tmp_path / "alone")])
    assert result.exit_code == 0 and not (tmp_path / "index.html").exists()
