"""The optimization report in a real headless Chromium: charts render, no console errors."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.test_optimize import optimize_cli, write_dataset

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER), reason="Debian chromium + chromium-driver not installed"
    ),
]


def browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--window-size=1400,2200",
        f"--user-data-dir={tempfile.mkdtemp(prefix='llmpilot-chromium-')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_report_renders_offline_without_console_errors(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "tiny")
    out, _ = optimize_cli(data, tmp_path, tmp_path / "w", "--strategy", "halving", "--min-queries", "4")
    report = out / "report.html"
    html = report.read_text(encoding="utf-8")
    assert (
        "https://" not in html.split("<body>")[0].replace("https://plotly", "") or "<script src=" not in html
    )
    assert "<script src=" not in html and "<link " not in html  # nothing fetched: renders offline
    worst = json.loads((out / "results.json").read_text(encoding="utf-8"))["worst_queries"]

    driver = browser()
    try:
        driver.get(report.as_uri())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rendered = driver.execute_script(
                "return document.querySelectorAll('.js-plotly-plot .main-svg').length"
            )
            if rendered >= 3:
                break
            time.sleep(0.2)
        assert rendered >= 3, "plotly charts did not render"
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == [], severe
        body = driver.find_element("tag name", "body").text
        assert "Leaderboard" in body and worst[0]["text"] in body
        DOCS.mkdir(exist_ok=True)
        driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert (tmp_path / "report.png").stat().st_size > 10_000
