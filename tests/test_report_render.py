"""`domainemb report`: the page is self-contained, escapes dataset text, shows missing cells, adds optional sections."""

from __future__ import annotations

import json
import re

from compare_data import write_synthetic_results
from typer.testing import CliRunner

from domainemb.cli.main import app
from domainemb.compare.render import MANIFEST_FILE, render_report

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


def test_adapt_and_prune_sections_when_present(tmp_path):
    results = write_synthetic_results(tmp_path / "results", payload=False)
    change = {"base": 0.5, "adapted": 0.6, "delta": 0.1, "low": 0.05, "high": 0.15, "n_tasks": 3, "confidence": 0.95}
    adapt = {
        "format": "domainemb-adapt-comparison/1",
        "domain": "finance",
        "base": {"name": "minilm", "model_name": "m", "fingerprint": "f"},
        "adapted": {"name": "work/adapted<i>", "model_name": "a", "fingerprint": "g"},
        "suites": {
            "domain": {"overall": change, "by_type": {"Retrieval": change}},
            "general": {"overall": {**change, "delta": -0.01}, "by_type": {}},
        },
        "bootstrap_samples": 1000,
    }
    (tmp_path / "adapt-run").mkdir()  # outside the results folder: named with include
    (tmp_path / "adapt-run" / "comparison.json").write_text(json.dumps(adapt))
    prune = {
        "format": "domainemb-prune-report/1",
        "model": "minilm",
        "method": "gaprune",
        "domain": "finance",
        "target_sparsity": 0.5,
        "ffn_sparsity": 0.5,
        "model_sparsity": 0.3,
        "structured": False,
        "suites": {"domain": {"dense_mean": 0.6, "pruned_mean": 0.58, "relative_change_pct": -3.3}},
    }
    (results / "prune_report.json").write_text(json.dumps(prune))
    html = render_report(results, tmp_path / "site", include=(tmp_path / "adapt-run",)).read_text(encoding="utf-8")
    assert "Adapted model: before and after" in html and "work/adapted&lt;i&gt;" in html and "+0.100" in html
    assert "Pruned model" in html and "gaprune" in html and "-3.30" in html


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
