"""The HTML report of a run: one self-contained page (Jinja2, figures embedded, no network).

`render_report` / `write_report` build it from a run's cells, I/O rows and environment;
`load_results` reads a results folder back for `gil-lab report DIR`; `screenshot` takes a
PNG of the first screen with headless Chromium. Jinja2 is the `report` extra.
"""

from __future__ import annotations

from labsrc.report.html.page import ReportUnavailable, jinja_available, render_report, write_report
from labsrc.report.html.source import RESULTS_NAME, ReportInputError, RunData, load_results

__all__ = ["RESULTS_NAME", "ReportInputError", "ReportUnavailable", "RunData", "jinja_available",
           "load_results", "render_report", "write_report"]
