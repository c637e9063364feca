"""Latency and bandwidth cells: a GIL-holding load is seen (and, on a free-threaded build
running without a GIL, a pure-Python load is not), the switch interval is restored."""

from __future__ import annotations

import sys
import threading

import pytest

from labsrc.dynamics.latency import latency_row
from labsrc.dynamics.load import LoadError
from labsrc.dynamics.session import EchoOptions, Grain, calibrate, run_cell
from labsrc.dynamics.switch import NO_LOAD, Cell, parse_intervals, plan_cells, switch_interval
from labsrc.tools.gilcheck import gil_disabled


def _p50(impl: str, threads: int, grain: Grain | None) -> float:
    opts = EchoOptions("noop", "latency", 0.4, ping_interval_s=0.004)
    row = latency_row(run_cell(Cell(impl, threads, 0.005), opts, grain))
    assert row.sent == row.answered + row.lost
    assert row.p50_ms is not None
    return row.p50_ms


def test_a_pure_python_busy_loop_raises_latency_above_idle() -> None:
    """With a GIL, the echo thread waits behind a pure-Python loop for up to the 5 ms switch
    interval the cell sets: its median reply lands near 5 ms, ~200x idle (~0.02 ms here).
    Without one (a free-threaded build, GIL disabled) nothing makes it wait but a CPU, and
    the loop uses only one of two: the median stays near idle (measured 0.5-1x). Each build
    is held to its side of the same line (3x idle and 1 ms), best of 3: the machine is
    shared, and outside load can only raise latency, which only the GIL side needs."""
    grain = calibrate("noop", "spin", 0.002)
    no_gil = gil_disabled()
    ratios = []
    for _ in range(3):
        idle = _p50(NO_LOAD, 0, None)
        busy = _p50("spin", 1, grain)
        ratios.append(round(busy / idle, 2))
        raised = busy >= 3 * idle and busy >= 1.0
        if raised != no_gil:
            break
    else:
        side = "stayed near idle beside a pure-Python thread, as with no GIL" if not no_gil \
            else "rose above idle beside a pure-Python thread, yet there is no GIL in this process"
        pytest.fail(f"the echo's median latency {side}: busy/idle median ratios {ratios} "
                    f"(last: {busy:.3f} ms against {idle:.3f} ms)")


def test_switch_interval_is_restored_after_a_run_and_after_an_exception() -> None:
    before = sys.getswitchinterval()
    run_cell(Cell(NO_LOAD, 0, 0.0123), EchoOptions("noop", "latency", 0.05), None)
    assert sys.getswitchinterval() == before
    with pytest.raises(LoadError):
        run_cell(Cell("wrong", 1, 0.0007), EchoOptions("faults", "latency", 0.05), Grain(1, 0.0))
    assert sys.getswitchinterval() == before
    with pytest.raises(ZeroDivisionError):
        with switch_interval(0.02):
            raise ZeroDivisionError
    assert sys.getswitchinterval() == before
    assert not [t for t in threading.enumerate() if t.name in ("io-echo",) or t.name.startswith("load-")]


def test_plan_and_interval_parsing() -> None:
    cells = plan_cells(["py", "cy_nogil"], [0, 1], [0.001, 0.02])
    assert cells[0] == Cell(NO_LOAD, 0, 0.001) and cells[3] == Cell(NO_LOAD, 0, 0.02)
    assert len(cells) == 6
    assert parse_intervals("0.0005, 0.005,0.005") == [0.0005, 0.005]
    for bad in ("0", "-1", "1.5", "x", ",", "nan"):
        with pytest.raises(ValueError):
            parse_intervals(bad)
