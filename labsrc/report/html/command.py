"""`gil-lab report DIR`, and the report options of `cpu`, `io` and `compare`.

`report DIR` rebuilds DIR/report.html from DIR/results.json (the plots are drawn again from
the stored cells, whose raw spans and walls `Cell.from_dict` restores). Bad input exits 2
with what is wrong before anything is written; the page is written atomically.
`check_report_options` runs before any measuring (so a missing Jinja2 or Chromium is
said at once), `publish` after it: report, screenshot, browser, and the report's path last.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, TextIO

from labsrc.core.usage import EXIT_FAILED, EXIT_OK, UsageError
from labsrc.report.options import timeline_cells
from labsrc.harness.iobench import IoRow
from labsrc.report.html.page import INSTALL_HINT, ReportUnavailable, jinja_available
from labsrc.report.html.source import RESULTS_NAME, ReportInputError, load_results
from labsrc.core.results import Cell

REPORT_NAME = "report.html"


def check_report_options(html: Optional[str | Path], screenshot: bool = False, open_it: bool = False,
                         required: bool = True) -> bool:
    """Before measuring: UsageError when an asked-for output cannot be made here (no
    Jinja2 for --html, --open or --screenshot; no Chromium for --screenshot). Returns
    whether the report can be written (False: `compare` goes on without it)."""
    asked = bool(html) and required or screenshot or open_it
    if not jinja_available():
        if asked:
            raise UsageError(f"the HTML report needs Jinja2: {INSTALL_HINT}")
        if html:  # compare's default report: say so, and measure anyway
            print(f"gil-lab: no {REPORT_NAME} this time: the HTML report needs Jinja2: {INSTALL_HINT}",
                  file=sys.stderr)
        return False
    if screenshot:
        from labsrc.report.html.browser import CHROMIUM_NAMES, find_chromium

        if find_chromium() is None:
            raise UsageError(f"--screenshot needs Chromium ({' or '.join(CHROMIUM_NAMES)} on PATH), "
                             "e.g. apt-get install chromium")
    return bool(html)


def publish(path: Path, env: Mapping[str, Any], cells: Sequence[Cell], io_rows: Sequence[IoRow],
            timeline: Optional[Sequence[tuple[str, str]]] = None, screenshot: bool = False,
            open_it: bool = False, source: str = "", out: Optional[TextIO] = None) -> bool:
    """Write the report to `path`, then its screenshot (`<stem>.png` beside it) and open it
    in a browser when asked; print the report's path last. False when an asked-for output
    failed (the reason is on stderr)."""
    from labsrc.report.html.page import write_report

    out = out or sys.stdout
    try:
        written = write_report(path, env, cells, io_rows, timeline, source)
    except ReportUnavailable as exc:
        print(f"gil-lab: report not written: {exc}", file=sys.stderr)
        return False
    fine = True
    if screenshot:
        from labsrc.report.html.browser import ScreenshotError, screenshot as take

        try:
            shot = take(written, written.with_suffix(".png"))
            print(f"screenshot: {shot}", file=out)
        except (ScreenshotError, OSError) as exc:
            print(f"gil-lab: no screenshot: {exc}", file=sys.stderr)
            fine = False
    print(f"report: {written}", file=out)
    if open_it and not webbrowser.open(written.resolve().as_uri()):
        print(f"gil-lab: no browser to open it here; open {written.resolve().as_uri()}", file=sys.stderr)
    return fine


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild DIR/report.html (or --output) from DIR/results.json."""
    timeline = timeline_cells(args.timeline)
    check_report_options(args.output or REPORT_NAME, screenshot=args.screenshot, open_it=args.open)
    try:
        run = load_results(args.folder)
    except ReportInputError as exc:
        raise UsageError(str(exc)) from None
    target = Path(args.output) if args.output else Path(args.folder) / REPORT_NAME
    if target.is_dir():
        raise UsageError(f"--output {target} is a folder; give the report's file name")
    fine = publish(target, run.env, run.cells, run.io_rows, timeline, screenshot=args.screenshot,
                   open_it=args.open, source=str(Path(args.folder) / RESULTS_NAME))
    return EXIT_OK if fine else EXIT_FAILED


def add_commands(subparsers: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register `gil-lab report`."""
    p = subparsers.add_parser("report", help="rebuild a results folder's report.html from its results.json",
                              description="Write DIR/report.html from DIR/results.json (as written by "
                                          "gil-lab compare, or cpu/io --json): findings, environment, "
                                          "the sortable matrix, plots and I/O tables in one offline page.")
    p.add_argument("folder", metavar="DIR", help="a results folder holding results.json")
    p.add_argument("--output", "-o", help=f"where to write the page (default: DIR/{REPORT_NAME})")
    p.add_argument("--timeline", help="cells for the Gantt charts, IMPL/EXECUTOR comma-separated")
    p.add_argument("--screenshot", action="store_true",
                   help="also save a PNG of the first screen beside the report (headless Chromium)")
    p.add_argument("--open", action="store_true", help="open the report in a browser")
    return {"report": cmd_report}
