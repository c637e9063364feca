"""The lessons of a run: one finding per lesson, in a fixed order, from the run's own rows.

Each lesson is a function `Run -> Finding | None` (labsrc.report.lessons.common): it quotes the
numbers it rests on (per kernel in a small table) and adds its interpretation only when
those numbers pass the thresholds named beside it. `lessons()` runs them in `ORDER`:
the machine-load warning, GIL held vs released, compiling is not enough, processes, OpenMP
inside one call, single-core speed, without the GIL (free-threaded rows beside GIL-build
rows), sub-interpreters (own-GIL interp rows beside processes), I/O, I/O under CPU load,
Dask, and problems last.
`labsrc.report.findings` prints them as text; the HTML report renders `Finding.as_dict()`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional

from labsrc.harness.iobench import IoRow
from labsrc.report.lessons.common import Finding, Run
from labsrc.report.lessons.cores import openmp, processes, single_core
from labsrc.report.lessons.io import downloads, downloads_under_load
from labsrc.report.lessons.nogil import without_gil
from labsrc.report.lessons.run import dask, machine_load, problems
from labsrc.report.lessons.subinterp import sub_interpreters
from labsrc.report.lessons.threads import compiled_not_enough, gil_released
from labsrc.core.results import Cell

Lesson = Callable[[Run], Optional[Finding]]

#: The lessons, in the order a reader meets them.
ORDER: tuple[Lesson, ...] = (
    machine_load, gil_released, compiled_not_enough, processes, openmp, single_core, without_gil,
    sub_interpreters, downloads, downloads_under_load, dask, problems,
)


def lessons(cells: Iterable[Cell] = (), io_rows: Iterable[IoRow] = (),
            env: Optional[Mapping[str, Any]] = None) -> list[Finding]:
    """Every finding of a run, one per lesson whose numbers are in the rows, in ORDER."""
    run = Run(tuple(cells), tuple(io_rows), dict(env or {}))
    return [found for lesson in ORDER if (found := lesson(run)) is not None]


__all__ = ["Finding", "Lesson", "ORDER", "Run", "lessons"]
