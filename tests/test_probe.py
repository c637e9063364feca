"""The GIL probe: its statistics, and that it ranks GIL-holding work above GIL-free work."""

from __future__ import annotations

import dataclasses
import time

import pytest

from labsrc.kernels import get_kernel
from labsrc.executors import Work
from labsrc.timing import Options, measure_cell
from labsrc.probe import GilProbe, KnockerProbe, ProbeStats, knocker_available


def test_stats_are_a_frozen_summary() -> None:
    with GilProbe(interval=0.001) as probe:
        time.sleep(0.05)
    stats = probe.stats()
    assert isinstance(stats, ProbeStats)
    assert stats.samples > 0
    assert 0.0 <= stats.p50_late_s <= stats.p99_late_s <= stats.max_late_s
    assert 0.0 <= stats.contention <= 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.samples = 0  # type: ignore[misc]


def test_bad_interval() -> None:
    with pytest.raises(ValueError):
        GilProbe(interval=0)


def _pair() -> tuple[str, str, str, int]:
    """A GIL-holding and a GIL-releasing implementation of one kernel, real if built."""
    try:
        primes = get_kernel("primes")
        names = [i.name for i in primes.impls if i.available()[0]]
        if "py" in names and "cy_nogil" in names:
            return "primes", "py", "cy_nogil", primes.quick_scale
    except KeyError:
        pass
    return "noop", "spin", "hash_nogil", 0


def _contention(kernel_name: str, impl: str, scale: int, knocker: bool = False) -> tuple[float, float | None]:
    kernel = get_kernel(kernel_name)
    from labsrc.matrix import calibrate

    fn = kernel.impl(impl).load()
    scale = calibrate(kernel, fn, {}, 4, 0.15, max(1, scale))
    cell = measure_cell(kernel, kernel.impl(impl), "threads", 2, Work(kernel.make_workload(4, scale), scale),
                        Options(repeats=1, knocker=knocker))
    assert cell.ok, cell.reason
    return cell.gil_contention, cell.gilknocker


def test_gil_holding_threads_show_more_contention() -> None:
    kernel, held, free, scale = _pair()
    assert _contention(kernel, held, scale)[0] > _contention(kernel, free, scale)[0]


@pytest.mark.skipif(not knocker_available(), reason="gilknocker not installed (optional)")
def test_gilknocker_ranks_the_cells_the_same_way() -> None:
    kernel, held, free, scale = _pair()
    ours_held, theirs_held = _contention(kernel, held, scale, knocker=True)
    ours_free, theirs_free = _contention(kernel, free, scale, knocker=True)
    assert theirs_held is not None and theirs_free is not None
    assert (ours_held > ours_free) == (theirs_held > theirs_free)


@pytest.mark.skipif(not knocker_available(), reason="gilknocker not installed (optional)")
def test_knocker_probe_reports_a_ratio() -> None:
    with KnockerProbe() as knock:
        time.sleep(0.02)
    assert knock.contention is not None and 0.0 <= knock.contention <= 1.0


def test_an_idle_heartbeat_backs_off_to_its_idle_interval() -> None:
    # Pauses of 1, 2, 4 ms, then 8 ms: at most 3 + 0.2 / 0.008 = 28 beats in 0.2 s (load
    # only ever makes wake-ups later, so fewer beats, never more).
    with GilProbe(interval=0.001, idle_interval=0.008) as probe:
        time.sleep(0.2)
    assert 0 < probe.stats().samples <= 28


def test_idle_interval_below_the_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="idle_interval"):
        GilProbe(interval=0.002, idle_interval=0.001)
