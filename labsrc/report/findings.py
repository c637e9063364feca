"""Findings as text: one entry per lesson of the run (labsrc.report.lessons), for the CLI.

`findings(cells, io_rows, env)` returns one string per lesson: the sentence with the
numbers it rests on, and, when the lesson has per-kernel figures, a compact aligned table
on the lines under it (indented two spaces). The lessons themselves, their order and
thresholds live in labsrc.report.lessons; the HTML report uses their structured form.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from labsrc.harness.iobench import IoRow
from labsrc.report.lessons import Finding, lessons
from labsrc.core.results import Cell

__all__ = ["Finding", "findings", "lessons"]


def findings(rows: Iterable[Cell], io_rows: Iterable[IoRow] = (),
             env: Optional[Mapping[str, Any]] = None) -> list[str]:
    """The run's findings as text, one entry per lesson (sentence, then its table lines)."""
    return [found.as_text() for found in lessons(rows, io_rows, env)]
