"""The report page rendered from a fixed analysis is the page the renderer made before it moved.

``tests/golden/compare-run/`` is a fixed ``domainemb compare`` output folder: the synthetic
analysis of ``compare_data.synthetic_analysis`` (with HTML/JS payloads, and an LLM error rate on the
classification tasks so both LLM columns and an LLM tercile table show), an adapt comparison, and
two prune reports (gaprune structured with a variant, magnitude unstructured), so every template and
branch of the page is drawn. ``tests/golden/index.html`` and ``manifest.json`` are what the renderer
wrote from it at commit f53095f, when it still lived in ``reports/`` (``domainemb.reports.render``).

Only the run-dependent part of the page is normalised before comparing: the provenance line
"rendered <timestamp> by domainemb <version>" (the render time and the installed version stamp).
Everything else, including the inlined CSS and script and the script's CSP hash, must match byte
for byte.

When a change to the page is intended, render the fixture again and commit the new golden files:
``python -c "from pathlib import Path; from domainemb.compare.render import render_report;
render_report(Path('tests/golden/compare-run'), Path('tests/golden'))"``.
"""

from __future__ import annotations

import re
from pathlib import Path

from domainemb.compare.render import MANIFEST_FILE, REPORT_FILE, render_report

GOLDEN = Path(__file__).parent / "golden"
FIXTURE = GOLDEN / "compare-run"
#: The render time and the renderer's version: the only parts of the page that depend on the run.
_STAMP = re.compile(rb"; rendered [^<]+ by domainemb [^<]+</dd>")


def _normalise(page: bytes) -> bytes:
    normalised, count = _STAMP.subn(b"; rendered RENDERED by domainemb VERSION</dd>", page)
    assert count == 1, "the page's version stamp moved; update _STAMP"
    return normalised


def test_page_matches_the_golden_page(tmp_path):
    page = render_report(FIXTURE, tmp_path / "site")
    assert page.name == REPORT_FILE
    expected = _normalise((GOLDEN / REPORT_FILE).read_bytes())
    actual = _normalise(page.read_bytes())
    if actual != expected:
        same = (i for i, (x, y) in enumerate(zip(actual, expected, strict=False)) if x != y)
        at = next(same, min(len(actual), len(expected)))
        raise AssertionError(
            f"the page differs from {GOLDEN / REPORT_FILE} at byte {at}:\n"
            f"  golden:   {expected[max(0, at - 80) : at + 80]!r}\n  rendered: {actual[max(0, at - 80) : at + 80]!r}"
        )


def test_manifest_matches_the_golden_manifest(tmp_path):
    render_report(FIXTURE, tmp_path / "site")
    assert (tmp_path / "site" / MANIFEST_FILE).read_bytes() == (GOLDEN / MANIFEST_FILE).read_bytes()
