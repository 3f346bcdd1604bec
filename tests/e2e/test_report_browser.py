"""report.html in a real headless Chromium (Debian's chromium + chromedriver through Selenium):
every plotly chart renders, nothing is logged as an error, Korean and hostile text show as text.

Also a tool: `python -m tests.e2e.test_report_browser REPORT.html OUT.png` takes a full-page
screenshot of any report (docs/report-screenshot.png comes from the autorag-ko run this way).
Set LLMPILOT_REPORT_SCREENSHOT=PATH to keep the test's own screenshot.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmpilot.optimization.report import render_report
from tests.unit.test_report import HOSTILE_QUERY, KO_QUERIES, make_results

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
RENDER_TIMEOUT_S = 60.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
    reason=(
        "Debian chromium/chromium-driver not installed (/usr/bin/chromium, /usr/bin/chromedriver): "
        "run `bash scripts/install_debian_deps.sh` as root (`make test` runs it when it is root)"
    ),
)


def start_browser(width: int = 1400, height: int = 2000) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        # A fresh profile each time: no state leaks between runs or from a user's browser.
        f"--user-data-dir={tempfile.mkdtemp(prefix='llmpilot-chromium-')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def open_report(driver: Any, report: Path) -> int:
    """Load the report and wait until every plotly chart has drawn its SVG; returns the chart count."""
    driver.get(report.resolve().as_uri())
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    # A chart counts as drawn once plotly has put its traces into the SVG.
    script = (
        "const divs = [...document.querySelectorAll('.plotly-graph-div')];"
        "return [divs.length, divs.filter(d => d.querySelector('.main-svg g.trace')).length];"
    )
    while True:
        charts, drawn = driver.execute_script(script)
        if charts and drawn >= charts:
            return int(charts)
        if time.monotonic() > deadline:
            raise AssertionError(f"only {drawn} of {charts} plotly charts rendered in {RENDER_TIMEOUT_S}s")
        time.sleep(0.2)


def full_page_png(driver: Any) -> bytes:
    """The whole page at the window's width. The window is grown to the page height and every chart
    re-laid out before the shot: DevTools' captureBeyondViewport catches plotly mid-relayout."""
    size = driver.get_window_size()
    try:
        for _ in range(3):  # growing the window can reflow the page once more
            height = int(driver.execute_script("return document.documentElement.scrollHeight"))
            if driver.execute_script("return window.innerHeight") >= height:
                break
            driver.set_window_size(size["width"], height)
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "const divs = [...document.querySelectorAll('.js-plotly-plot')];"
            "Promise.all(divs.map(d => Plotly.Plots.resize(d)))"
            ".then(() => requestAnimationFrame(() => requestAnimationFrame(done)));"
        )
        png: bytes = driver.get_screenshot_as_png()
    finally:
        driver.set_window_size(size["width"], size["height"])
    return png


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    browser = start_browser()
    try:
        yield browser
    finally:
        browser.quit()


def _severe(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_report_renders_offline_without_console_errors(driver: Any, tmp_path: Path) -> None:
    results = make_results(30)
    report = render_report(results, tmp_path / "report.html")
    charts = open_report(driver, report)
    assert charts == 1 + 5 + 1  # CI chart, one effect plot per varied parameter, latency vs quality
    assert _severe(driver) == []

    body = driver.find_element("tag name", "body").text
    assert "Leaderboard" in body and "Best config" in body
    shown_ko = [q["text"] for q in results["worst_queries"] if q["text"] in KO_QUERIES]
    assert shown_ko and all(text in body for text in shown_ko)
    assert "솔박스 배터리 보증 안내" in body
    rows = driver.execute_script("return document.querySelectorAll('#leaderboard-table tbody tr').length")
    assert rows == 30
    # Markup in query texts shows as text and creates no element.
    assert HOSTILE_QUERY in body
    assert driver.execute_script("return document.querySelectorAll('b.injected').length") == 0
    # Inline scripts: the plotly bundle and one newPlot snippet per chart; nothing else, nothing loaded.
    scripts = driver.execute_script("return [...document.scripts].map(s => s.src)")
    assert scripts == [""] * (1 + charts)
    # The CI chart has one error bar per top trial (15 of the 30).
    bars = driver.execute_script("return document.querySelectorAll('.js-plotly-plot .errorbar').length")
    assert bars == 15

    png = full_page_png(driver)
    assert png.startswith(PNG_MAGIC) and len(png) > 50_000
    keep = os.environ.get("LLMPILOT_REPORT_SCREENSHOT")
    (Path(keep) if keep else tmp_path / "report.png").write_bytes(png)


@pytest.mark.parametrize(("n_trials", "strategy"), [(1, "grid"), (24, "halving")])
def test_small_and_halving_reports_render_cleanly(
    driver: Any, tmp_path: Path, n_trials: int, strategy: str
) -> None:
    results = make_results(n_trials, strategy)
    report = render_report(results, tmp_path / "report.html")
    charts = open_report(driver, report)
    # The CI chart; halving adds 5 effect plots and latency vs quality from its first rung (24 configs).
    assert charts == (1 if n_trials == 1 else 7)
    assert _severe(driver) == []
    body = driver.find_element("tag name", "body").text
    if n_trials == 1:
        assert "no runner-up" in body
    else:
        assert "stopped early" in body
        stopped = driver.execute_script("return document.querySelectorAll('#stopped-table tbody tr').length")
        complete = {t["trial_id"] for t in results["trials"] if t["complete"]}
        assert stopped == len({t["trial_id"] for t in results["trials"]} - complete) > 0


def _smaller_png(png: bytes) -> bytes:
    """A 256-colour PNG (a third of the size, colours kept: no dithering) when Pillow is installed."""
    try:
        from PIL import Image
    except ImportError:
        return png
    import io

    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True
    )
    return out.getvalue()


def main(argv: list[str]) -> int:
    """Screenshot a report: python -m tests.e2e.test_report_browser REPORT.html OUT.png [WIDTH]."""
    if len(argv) not in (2, 3):
        print(main.__doc__, file=sys.stderr)
        return 2
    report, out = Path(argv[0]), Path(argv[1])
    browser = start_browser(width=int(argv[2]) if len(argv) == 3 else 1400)
    try:
        charts = open_report(browser, report)
        errors = _severe(browser)
        out.write_bytes(_smaller_png(full_page_png(browser)))
    finally:
        browser.quit()
    print(f"{out}: {charts} charts rendered, {len(errors)} console errors")
    for error in errors:
        print(f"  {error['message']}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
