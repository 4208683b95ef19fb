"""The full HTML report (training curves and a comparison) opened in headless Chromium.

Runs Debian's chromium through its chromedriver with Selenium, offline (a `file://` page, no
Selenium Manager downloads). Without them the test is skipped locally; on CI (`CI=true`, where
`.ci/run` installs chromium) it fails instead, so the check can't silently disappear.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from finetune_kit import Comparison, MetricPoint
from finetune_kit.report import to_html
from tests.report._helpers import Trained
from tests.report.test_plot import png_size

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1400",
]


@pytest.fixture
def chrome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    """A headless Chromium driven by chromedriver, or a skip (a failure on CI) without them."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing or shutil.which(str(CHROMEDRIVER)) is None:
        reason = f"the browser test needs {' and '.join(missing) or CHROMEDRIVER}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI installs chromium (.ci/run)")
        pytest.skip(reason)
    # Paths are given, so Selenium Manager has nothing to find; keep it offline and quiet anyway.
    monkeypatch.setenv("SE_OFFLINE", "true")
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


def test_report_renders_in_chromium(
    chrome: webdriver.Chrome, trained: Trained, compared: Comparison, tmp_path: Path
) -> None:
    """No console errors, the title, a drawn SVG, one summary row per model, a PNG screenshot."""
    page = tmp_path / "report.html"
    title = "Elle: base vs tuned <report>"
    to_html(
        compared,
        page,
        title=title,
        metrics=trained.points,
        checkpoints=trained.checkpoints,
        job=trained.line,
    )
    chrome.get(page.as_uri())

    logs: list[dict[str, Any]] = chrome.get_log("browser")  # type: ignore[no-untyped-call]
    severe = [e for e in logs if e.get("level") == "SEVERE"]
    assert severe == []
    assert chrome.title == title
    box: dict[str, Any] = chrome.execute_script(
        "const svg = document.querySelector('figure.curves svg');"
        "const bbox = svg.getBBox(), rect = svg.getBoundingClientRect();"
        "return {bw: bbox.width, bh: bbox.height, rw: rect.width, rh: rect.height,"
        " page: document.body.getBoundingClientRect().width,"
        " lines: svg.querySelectorAll('polyline').length,"
        " lineWidth: svg.querySelector('polyline').getBBox().width};"
    )
    assert box["bw"] > 0
    assert box["bh"] > 0
    assert box["page"] > 1100  # a 1280-pixel window, less the margins (and a scroll bar)
    assert box["rw"] == box["page"]  # the chart takes the page's width...
    assert box["rh"] == pytest.approx(box["rw"] / 2, abs=1)  # ...at its own proportions
    assert box["lines"] == 4
    assert box["lineWidth"] > 700  # the train loss spans the plot (viewBox units)
    rows = chrome.find_elements(By.CSS_SELECTOR, "table.summary tbody tr")
    assert len(rows) == len(compared.models) == 2
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == compared.models
    labels = chrome.find_elements(By.CSS_SELECTOR, "figure.curves g.checkpoint-labels text")
    assert [label.text for label in labels] == ["ckpt 80", "ckpt 90", "ckpt 100"]
    assert _overlapping_labels(chrome) == []
    assert chrome.find_element(By.CSS_SELECTOR, "ul.verdicts li").text == compared.verdict()

    shot = tmp_path / "report.png"
    assert chrome.save_screenshot(str(shot))
    assert png_size(shot.read_bytes())[0] > 0
    if target := os.environ.get("FINETUNE_KIT_KEEP_SCREENSHOT"):  # to look at it by hand
        shutil.copyfile(shot, target)


_LABEL_BOXES = (
    "return [...document.querySelectorAll('figure.curves g.checkpoint-labels text')].map(t => {"
    " const r = t.getBoundingClientRect();"
    " return [t.textContent, r.left, r.top, r.right, r.bottom]; });"
)


def _overlapping_labels(chrome: webdriver.Chrome) -> list[tuple[str, str]]:
    """The pairs of checkpoint labels whose drawn boxes intersect, as the browser lays them out."""
    boxes: list[list[Any]] = chrome.execute_script(_LABEL_BOXES)
    assert boxes
    assert all(right > left and bottom > top for _, left, top, right, bottom in boxes)
    return [
        (a[0], b[0])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]


@pytest.mark.parametrize("window", [(1280, 900), (480, 900)])
def test_close_checkpoint_labels_do_not_overlap(
    chrome: webdriver.Chrome, tmp_path: Path, window: tuple[int, int]
) -> None:
    """Checkpoints a step apart, at both ends and in the middle: no two labels' boxes touch,
    in a wide window and in a phone-sized one; the chart fills the page's width in both."""
    points = [MetricPoint(step=s, train_loss=2.0 / s) for s in range(1, 101)]
    steps = [1, 2, 3, 49, 50, 51, 97, 98, 99, 100]
    page = tmp_path / "close.html"
    to_html(metrics=points, checkpoints=steps, path=page)
    chrome.set_window_size(*window)
    chrome.get(page.as_uri())
    labels = chrome.find_elements(By.CSS_SELECTOR, "figure.curves g.checkpoint-labels text")
    # Three rows at most, placed from the last checkpoint back: ckpt 97 would need a fourth
    # and is left out (its line stays).
    assert [label.text for label in labels] == [f"ckpt {s}" for s in steps if s != 97]
    assert len(chrome.find_elements(By.CSS_SELECTOR, "figure.curves g.checkpoints line")) == 20
    assert _overlapping_labels(chrome) == []
    widths: list[float] = chrome.execute_script(
        "return [document.querySelector('figure.curves svg').getBoundingClientRect().width,"
        " document.body.getBoundingClientRect().width];"
    )
    assert widths[0] == widths[1]
