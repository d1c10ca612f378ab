"""report.html: self-contained (plots inlined, no network), and in a real headless
Chromium it renders, every image loads, no console error appears, and tables sort."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from sweep_files import write_sweep

from canary_mc.report import build_report

SCALE = "policy.error_threshold_scale"
SIGMA = "noise.error_sigma"
N = 1000


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    directory = write_sweep(
        tmp_path_factory.mktemp("html") / "page",
        axes={SCALE: [1, 2, 3], SIGMA: [0.002, 0.004, 0.008]},
        # false alarms fall with the scale and rise with the noise, by hand
        healthy=lambda at: int(40 * at[SIGMA] * 1000 // at[SCALE]),
        regressions={"errors <b>&": lambda at: 900 - 100 * at[SCALE]},
        n=N,
        experiment="page",
    )
    build_report(directory, target=0.05)
    return directory


def test_html_is_self_contained(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    pngs = sorted((report_dir / "plots").glob("*.png"))
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(sources) == len(pngs) >= 4
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # nothing fetched from anywhere
    assert "<script src" not in page and "<link" not in page
    # names from the experiment are text, not markup
    assert "errors &lt;b&gt;&amp;" in page and "<b>&" not in page
    markdown = (report_dir / "report.md").read_text(encoding="utf-8")
    assert page.count("<table") == markdown.count("\n| ---") >= 1  # every table, sortable


def _chromium() -> str | None:
    for candidate in (os.environ.get("CANARY_MC_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="playwright is not installed: pip install 'canary-mc[test]'",
    )
    executable = _chromium()
    if executable is None:
        pytest.skip(
            "no Chromium to drive: `make browser` installs Debian's chromium "
            "(or set CANARY_MC_CHROMIUM to a Chromium binary)"
        )
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=executable, headless=True, args=["--no-sandbox"]
            )
        except Exception as exc:  # a browser that cannot start here is not a test failure
            pytest.skip(f"Chromium at {executable} did not start: {exc}")
        yield launched
        launched.close()


def test_report_html_in_a_real_browser(browser, report_dir):
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((report_dir / "report.html").as_uri(), wait_until="load")

    assert page.title() == "page: sweep report"
    assert page.locator("h1").inner_text() == "page: sweep report"
    n_images = page.evaluate("document.images.length")
    assert n_images == len(list((report_dir / "plots").glob("*.png")))
    loaded = page.evaluate(
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded, "an image did not load"
    assert problems == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests

    # the recommendation table sorts by a clicked column, numerically, both ways
    table = page.locator("table.sortable").first
    header = table.locator("thead th", has_text="false-alarm rate")
    column = header.evaluate("th => th.cellIndex")

    def column_values() -> list[float]:
        cells = table.locator(f"tbody tr td:nth-child({column + 1})").all_inner_texts()
        return [float(c.split("%")[0]) for c in cells]

    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    values = column_values()
    assert values == sorted(values) and len(values) == 3
    header.click()
    assert column_values() == sorted(values, reverse=True)
    assert problems == []
    page.close()
