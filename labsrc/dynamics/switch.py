"""The switch-interval sweep: which cells to measure, and `sys.setswitchinterval` set for
one cell and restored afterwards on every path (exception and Ctrl-C included).

The switch interval is how long a thread that wants the GIL waits before it asks the
holder to drop it (5 ms by default). A pure-Python holder drops it at its next bytecode
boundary; a C call that holds the GIL drops it only when the call returns, so a GIL-held
call longer than the interval sets the waiting time by its own length (`--chunk-ms`).
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

MAX_INTERVAL_S = 1.0
MAX_CHUNK_MS = 10_000.0
#: The impl name of a cell without background load (the baseline).
NO_LOAD = "none"


@contextmanager
def switch_interval(seconds: Optional[float]) -> Iterator[float]:
    """Set the switch interval for the block (None: leave it); always restore the old one."""
    old = sys.getswitchinterval()
    try:
        if seconds is not None:
            sys.setswitchinterval(seconds)
        yield sys.getswitchinterval()
    finally:
        sys.setswitchinterval(old)


def parse_intervals(text: Optional[str]) -> list[float]:
    """`--switch-interval 0.0005,0.005` -> seconds; each must be in (0, 1]. ValueError else.
    Not given: the interpreter's current interval."""
    if text is None:
        return [sys.getswitchinterval()]
    values: list[float] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"--switch-interval takes seconds, e.g. 0.005, got {part!r}") from None
        if not (0 < value <= MAX_INTERVAL_S) or math.isnan(value):
            raise ValueError(f"--switch-interval values must be > 0 and <= {MAX_INTERVAL_S:g} s, got {part}")
        values.append(value)
    if not values:
        raise ValueError(f"--switch-interval needs at least one value, got {text!r}")
    return list(dict.fromkeys(values))


def check_chunk_ms(value: Optional[float]) -> Optional[float]:
    """--chunk-ms must be in (0, 10000]; ValueError otherwise."""
    if value is not None and not 0 < value <= MAX_CHUNK_MS:
        raise ValueError(f"--chunk-ms must be > 0 and <= {MAX_CHUNK_MS:g}, got {value}")
    return value


@dataclass(frozen=True)
class Cell:
    """One measurement: `threads` workers of `impl` under one switch interval."""

    impl: str
    threads: int
    switch_interval_s: float


def plan_cells(impls: Sequence[str], threads: Sequence[int], intervals: Sequence[float]) -> list[Cell]:
    """Per interval: the no-load baseline first (always, as every ratio needs it), then
    every implementation at every non-zero thread count."""
    cells: list[Cell] = []
    for interval in intervals:
        cells.append(Cell(NO_LOAD, 0, interval))
        cells += [Cell(impl, n, interval) for impl in impls for n in threads if n > 0]
    return cells
