"""Cells with chosen figures, for the report, findings, plots and goals suites."""

from __future__ import annotations

import math
from typing import Any

from labsrc.core.names import Payload
from labsrc.core.results import Cell


def make_cell(impl: str, executor: str, workers: int, speedup: float = 1.0, gil: float = math.nan,
              throughput: float | None = None, kernel: str = "primes", **fields: Any) -> Cell:
    """A measured cell whose median wall is 1/speedup of a 1 s baseline (runs at 0.9x, 1x and
    1.1x of it), with `throughput` work units per second when given; `fields` override."""
    wall = 1.0 / speedup
    tasks = 4
    scale = (throughput if throughput is not None else 100.0 * speedup) * wall / tasks
    if executor == "procs" and "payload" not in fields:
        fields["payload"] = Payload.RECIPE
    values: dict[str, Any] = dict(
        tasks=tasks, scale=scale, repeats=3, walls=(0.9 * wall, wall, 1.1 * wall),
        cpus=(wall, wall, wall), baseline_s=1.0, gil_contention=gil, verified=True,
    )
    values.update(fields)
    return Cell(kernel, impl, executor, workers, **values)
