"""The HTML report in a real browser: headless Chromium through Selenium and chromedriver.

The report comes from a real, tiny run of `gil-lab cpu` (the hidden noop kernel at scale
1), plus a page of fixed cells with hostile text. Checked: no console errors, every image
decodes, one table row per cell, sorting by speedup reorders the rows (both ways), the
findings come first, nothing is fetched from the network. Skipped only where this machine
has no Chromium (`.ci/run` installs Debian's chromium and chromium-driver).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from made_cells import make_cell

from labsrc import cli
from labsrc.harness.iobench import IoRow
from labsrc.report.html.browser import chromium_flags, find_chromium

pytest.importorskip("jinja2", reason="the HTML report needs the report extra (Jinja2)")
CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium "
                                                         "chromium-driver)")

PAGE_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, with its console log kept."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is part of the test extra")
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    assert driver_path, "Chromium is here but chromedriver is not: apt-get install chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*chromium_flags(), "--window-size=1280,900"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder from the real `cpu` command at the smallest size, with --html."""
    folder = tmp_path_factory.mktemp("tiny")
    rc = cli.main(["cpu", "--kernel", "noop", "--impl", "spin,hash_nogil", "--executor", "seq,threads",
                   "--workers", "1,2", "--scale", "1", "--repeat", "1", "--quiet",
                   "--json", str(folder / "results.json"), "--html", str(folder / "report.html")])
    assert rc == 0
    return folder


def _open(driver: Any, page: Path) -> list[dict[str, Any]]:
    """Load `page`; the console messages it logged (read once: the log empties on reading)."""
    driver.get_log("browser")  # drop anything left from the previous page
    driver.get(page.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    return driver.get_log("browser")


def _column(driver: Any, table: str, header: str) -> list[str]:
    return driver.execute_script(
        """const table = document.getElementById(arguments[0]);
           const at = [...table.tHead.rows[0].cells].findIndex(th => th.textContent.trim() === arguments[1]);
           return [...table.tBodies[0].rows].map(r => r.cells[at].getAttribute('data-sort'));""", table, header)


def _numbers_then_missing(keys: list[str], reverse: bool) -> bool:
    numbers = [float(k) for k in keys if k]
    missing_last = all(not k for k in keys[len(numbers):])
    return missing_last and numbers == sorted(numbers, reverse=reverse)


def test_report_of_a_real_run_in_chromium(browser: Any, tiny_run: Path) -> None:
    console = _open(browser, tiny_run / "report.html")
    assert [m for m in console if m["level"] == "SEVERE"] == []

    images = browser.execute_script("return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth])")
    assert len(images) == 2  # noop's speedup plot and its timelines
    assert all(complete and width > 0 for _, complete, width in images), images

    cells = json.loads((tiny_run / "results.json").read_text())["results"]
    rows = browser.execute_script("return document.querySelectorAll('#matrix-table tbody tr').length")
    assert rows == len(cells) == 6

    first = browser.execute_script("return document.querySelector('main > section').id")
    assert first == "findings"
    tops = browser.execute_script(
        "return ['findings', 'environment', 'matrix'].map(id => document.getElementById(id).getBoundingClientRect().top)")
    assert tops == sorted(tops)

    original = browser.execute_script(
        "return [...document.querySelectorAll('#matrix-table tbody tr')].map(r => r.dataset.index)")
    button = browser.find_element("xpath", "//table[@id='matrix-table']//th[normalize-space()='speedup']/button")
    button.click()
    ascending = _column(browser, "matrix-table", "speedup")
    order_up = browser.execute_script(
        "return [...document.querySelectorAll('#matrix-table tbody tr')].map(r => r.dataset.index)")
    assert _numbers_then_missing(ascending, reverse=False), ascending
    button.click()
    descending = _column(browser, "matrix-table", "speedup")
    order_down = browser.execute_script(
        "return [...document.querySelectorAll('#matrix-table tbody tr')].map(r => r.dataset.index)")
    assert _numbers_then_missing(descending, reverse=True), descending
    assert len(set(ascending)) > 1  # seq cells are 1.00x, the threaded ones are not exactly
    assert order_up != original or order_down != original  # sorting moved the rows
    assert browser.execute_script(
        "return document.querySelector('#matrix-table th[aria-sort=descending]').textContent.trim()") == "speedup"

    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:'))")
    assert fetched == []


def test_hostile_text_stays_text_in_chromium(browser: Any, tmp_path: Path) -> None:
    from labsrc.report.html import write_report

    evil = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'
    cells = [make_cell("py", "seq", 1, 1.0), make_cell("py", "threads", 2, 0.95, gil=0.9),
             make_cell("cy_nogil", "seq", 1, 1.0), make_cell("cy_nogil", "threads", 2, 1.9, gil=0.02),
             make_cell("cy_gil", "threads", 2, 1.0, status="failed", reason=evil)]
    io = [IoRow("sequential", 1, 5, 5, 0, 0, elapsed_s=2.5, speedup=1.0),
          IoRow("threadpool", 5, 5, 5, 0, 0, elapsed_s=0.5, speedup=5.0, gil_contention=0.02)]
    page = write_report(tmp_path / "report.html", {"platform": evil, "gil_enabled": True}, cells, io)
    console = _open(browser, page)
    assert [m for m in console if m["level"] == "SEVERE"] == []
    assert browser.title != "pwned"
    problems = browser.execute_script("return document.getElementById('finding-problems').textContent")
    assert "onerror" in problems and "<script>" in problems  # shown as text, not run
    images = browser.execute_script("return [...document.images].map(i => i.naturalWidth)")
    assert len(images) == 2 and all(width > 0 for width in images)  # speedup and I/O (no spans: no timeline)
    assert browser.execute_script("return document.querySelectorAll('#io-table tbody tr').length") == 2
