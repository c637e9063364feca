"""One measured cell of the echo experiments: set the switch interval, start the echo
thread, start the background load, run the client process, stop everything (in that
reverse order, on every path), and keep the raw record.

`sweep` runs a list of cells, one implementation's call size calibrated once for all of
its cells (so the switch-interval curve compares equal calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

from labsrc.dynamics.echo import ClientPlan, ClientResult, EchoServer, ping
from labsrc.dynamics.load import DEFAULT_CHUNK_S, BackgroundLoad, calibrate_scale, call_seconds, resolve
from labsrc.dynamics.switch import NO_LOAD, Cell, switch_interval


@dataclass(frozen=True)
class EchoOptions:
    """What every cell of one command shares."""

    kernel: str
    mode: str  # "latency" or "bandwidth"
    duration_s: float
    ping_interval_s: float = 0.01
    chunk_s: float = DEFAULT_CHUNK_S
    port: int = 0
    gap_s: float = 0.0


@dataclass(frozen=True)
class Grain:
    """An implementation's calibrated call: its scale and the measured length of one call."""

    scale: int
    call_s: float


@dataclass(frozen=True)
class CellRun:
    """The raw outcome of one cell."""

    cell: Cell
    kernel: str
    grain: Optional[Grain]
    client: ClientResult
    work_per_s: Optional[float]
    calls: int


def calibrate(kernel: str, impl: str, chunk_s: float) -> Grain:
    """Scale one call of `impl` to about `chunk_s`, then time that call."""
    k, fn = resolve(kernel, impl)
    scale = calibrate_scale(k, fn, chunk_s)
    return Grain(scale, call_seconds(k, fn, scale, tries=3))


def run_cell(cell: Cell, opts: EchoOptions, grain: Optional[Grain], seed: int = 0) -> CellRun:
    """Measure one cell (see the module doc). EchoError/LoadError say what failed."""
    plan = ClientPlan(opts.mode, opts.duration_s, opts.ping_interval_s, opts.gap_s, seed=seed)
    with switch_interval(cell.switch_interval_s):
        with EchoServer(opts.port) as echo:
            if cell.threads == 0 or cell.impl == NO_LOAD:
                return CellRun(cell, opts.kernel, None, ping(echo.address, plan), None, 0)
            assert grain is not None
            # Joining waits for the calls in flight: give long (--chunk-ms) calls their time.
            join_s = max(10.0, 3 * grain.call_s)
            with BackgroundLoad(opts.kernel, cell.impl, cell.threads, scale=grain.scale,
                                join_timeout=join_s) as load:
                before = load.snapshot()
                client = ping(echo.address, plan)
                rate = load.rate_since(before)
            return CellRun(cell, opts.kernel, grain, client, rate, load.stop().calls)


def sweep(cells: Sequence[Cell], opts: EchoOptions) -> Iterator[CellRun]:
    """Each cell's run in order; a failure propagates after the cells before it were yielded."""
    grains: dict[str, Grain] = {}
    for i, cell in enumerate(cells):
        if cell.threads and cell.impl not in grains:
            grains[cell.impl] = calibrate(opts.kernel, cell.impl, opts.chunk_s)
        yield run_cell(cell, opts, grains.get(cell.impl), seed=i)
