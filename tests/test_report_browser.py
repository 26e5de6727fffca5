"""The report in a real headless Chromium: no console errors, no network, sorting, no script from data, a screenshot.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``), driven by Playwright; no
browser is downloaded. The screenshot lands in ``test-artifacts/`` (or ``$DOMAINEMB_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from compare_data import write_synthetic_results

from domainemb.compare.render import render_report

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("DOMAINEMB_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "test-artifacts")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.is_file() and not os.environ.get("CI"):
    pytest.skip("needs Debian's chromium (apt-get install chromium); CI installs it", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    return render_report(write_synthetic_results(folder / "results"), folder / "site")


@pytest.fixture
def page(browser, report):
    """The report opened from file://, with every console error and non-file request recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors, page.requests = [], []  # type: ignore[attr-defined]
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))

    def refuse(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            page.errors.append(f"network request: {route.request.url}")
            route.abort()

    context.route("**/*", refuse)
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    yield page
    context.close()


def test_renders_without_console_errors_or_network(page, report):
    assert page.title().startswith("finance vs general")
    assert page.locator("#leaderboard-domain tbody tr").count() == 6
    assert page.locator("svg.plot").count() >= 3
    assert page.errors == []
    assert all(url.startswith("file://") for url in page.requests), page.requests
    assert page.requests == [report.as_uri()]  # the page itself, nothing else


def test_dataset_payloads_do_not_execute(page):
    assert page.evaluate("typeof window.__xss") == "undefined"
    # The payloads are on the page as text.
    page.locator("#tasks details").first.evaluate("d => d.open = true")
    assert "<script>window.__xss = 'script';</script>" in page.locator("#tasks table.examples").first.inner_text()
    assert page.locator("#tasks img, #tasks script, #tasks [onerror], #tasks [onload]").count() == 0
    page.locator("#tasks table.examples td").first.hover()
    assert page.evaluate("typeof window.__xss") == "undefined"


def _column(page, table: str, index: int) -> list[str]:
    return page.locator(f"#{table} tbody tr").evaluate_all(
        f"rows => rows.map(r => r.cells[{index}].getAttribute('data-sort') ?? r.cells[{index}].textContent.trim())"
    )


def test_sorting_by_a_column(page):
    header = page.locator("#leaderboard-domain thead th").nth(1)  # overall
    header.click()
    values = _column(page, "leaderboard-domain", 1)
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers) and values[-1] == ""  # missing cells last
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    values = _column(page, "leaderboard-domain", 1)
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers, reverse=True) and values[-1] == ""
    assert header.get_attribute("aria-sort") == "descending"
    names = page.locator("#leaderboard-domain thead th").first
    names.focus()
    page.keyboard.press("Enter")
    labels = page.locator("#leaderboard-domain tbody th").all_inner_texts()
    assert [s.strip().lower() for s in labels] == sorted(s.strip().lower() for s in labels)
    assert page.errors == []


def test_screenshot_artifact(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "report.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_domain_model_is_marked(browser, tmp_path):
    import json

    from compare_data import synthetic_analysis

    from domainemb.model_origin import BaseModel, ModelOrigin, OriginKind, TrainingData

    origin = ModelOrigin(
        kind=OriginKind.ADAPTED,
        domain="finance",
        base=BaseModel("minilm", "b" * 64),
        fingerprint="a" * 64,
        data=TrainingData(source="pairs.jsonl", sha256="c" * 64, pairs=1334, generators={"ict": 1334}),
        teacher="mpnet",
        recipe="loss mnrl, 76 steps",
        command="domainemb adapt --base minilm --pairs pairs.jsonl --domain finance --out run",
    )
    analysis = synthetic_analysis(payload=False)
    analysis["models"][0]["origin"] = origin.to_dict()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "analysis.json").write_text(json.dumps(analysis), encoding="utf-8")
    page_file = render_report(tmp_path / "results", tmp_path / "site")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri())
    mark = page.locator("#leaderboard-domain tbody th .badge.origin-adapted")
    assert mark.count() == 1 and mark.is_visible() and mark.inner_text() == "domain model"
    origins = page.locator("#model-origins")
    assert origins.is_visible() and "trained on 1,334 ict pairs (pairs.jsonl)" in origins.inner_text()
    assert origin.command in origins.inner_text() and errors == []
    context.close()
