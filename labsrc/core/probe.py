"""The GIL heartbeat probe: how long does a Python thread wait to get the GIL back?

A daemon thread loops `time.sleep(interval)`. `time.sleep` releases the GIL while the OS
timer runs and must take it back before it can return, so every wake-up that comes later
than asked for measures how long the interpreter kept this thread waiting: a few tens of
microseconds of OS timer slack when the GIL is free, up to the switch interval (5 ms by
default) when another thread holds it in pure-Python or GIL-holding C code, and the whole
call when a C extension never releases it.

`GilProbe` is what the harness runs around every measured cell; `KnockerProbe` wraps the
optional third-party `gilknocker` metric so the two can be shown side by side.
"""

from __future__ import annotations

import threading
import time
from array import array
from dataclasses import dataclass
from types import TracebackType
from typing import Optional

# CLOCK_MONOTONIC on Linux: the same clock the executors stamp task spans with.
_clock = time.perf_counter

#: The harness's heartbeat: every 1 ms while the GIL is contended, backing off to every
#: 8 ms while it wakes on time (see GilProbe).
HEARTBEAT_S = 0.001
IDLE_HEARTBEAT_S = 0.008


@dataclass(frozen=True)
class ProbeStats:
    """What one probe saw.

    samples: completed heartbeats; p50/p99/max_late_s: lateness of those wake-ups
    (actual wake-up minus intended wake-up, seconds, never negative, raw); contention: the
    fraction 0..1 of the probe's lifetime spent waiting beyond the interval,
    sum(max(0, lateness - floor)) / (stop - start), where `floor` is the median lateness
    of an idle heartbeat in this process (the OS timer's own overshoot, ~50-100 us on
    Linux, measured once by `timer_floor()`), so that a free GIL reads near 0 rather than
    ~0.07. 0 means every heartbeat woke on time; 0.8 means that for 80% of the cell the
    heartbeat was ready to run but could not.
    """

    samples: int
    p50_late_s: float
    p99_late_s: float
    max_late_s: float
    contention: float

    def as_dict(self) -> dict[str, float | int]:
        """Plain fields for reports."""
        return {
            "samples": self.samples,
            "p50_late_s": self.p50_late_s,
            "p99_late_s": self.p99_late_s,
            "max_late_s": self.max_late_s,
            "contention": self.contention,
        }


EMPTY_STATS = ProbeStats(0, 0.0, 0.0, 0.0, 0.0)


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of an already sorted list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


_FLOOR: dict[float, float] = {}


def timer_floor(interval: float = 0.001, beats: int = 40) -> float:
    """Median lateness of an idle heartbeat here (seconds), measured once per interval.

    Measured in the calling thread with nothing else running in this process, so it is the
    OS timer's overshoot (timer slack, wake-up latency), not GIL waiting.
    """
    if interval not in _FLOOR:
        late = []
        for _ in range(beats):
            intended = _clock() + interval
            time.sleep(interval)
            late.append(max(0.0, _clock() - intended))
        _FLOOR[interval] = _quantile(sorted(late), 0.5)
    return _FLOOR[interval]


def next_pause(pause: float, lateness: float, interval: float, idle: float) -> float:
    """The heartbeat's next pause: woken on time (lateness < interval), the GIL is free, so
    beat less often (x2 per beat, up to `idle`); woken late means contention: back to
    `interval` at once."""
    return min(idle, pause * 2) if lateness < interval else interval


class GilProbe:
    """Context manager: a heartbeat thread that records how late it wakes up.

    >>> with GilProbe() as probe:
    ...     work()
    >>> probe.stats().contention

    The thread sleeps `interval` seconds per beat and stores only one float per beat, so
    it stays cheap: about 1000 wake-ups a second when the GIL is free and at most one per
    switch interval when it is not. With `idle_interval`, beats that wake on time double
    the pause up to it, and the first late one brings it back to `interval`: the harness
    uses 8 ms, because with every core busy each wake-up preempts the work (a 1 ms beat
    cost 2 % of a 2-thread GIL-free cell, the backed-off one nothing measurable), while a
    contended GIL is still sampled every `interval`, so the contention figure is the same.
    """

    def __init__(self, interval: float = 0.001, idle_interval: Optional[float] = None) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        if idle_interval is not None and idle_interval < interval:
            raise ValueError(f"idle_interval must be >= interval ({interval!r} s), got {idle_interval!r}")
        self.interval = interval
        self.idle_interval = idle_interval or interval
        self._late = array("d")
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._started = 0.0
        self._stopped = 0.0
        self.floor = 0.0

    def _beat(self) -> None:
        interval, idle, late, clock, sleep = self.interval, self.idle_interval, self._late, _clock, time.sleep
        stop = self._stop
        pause = interval
        while not stop.is_set():
            intended = clock() + pause
            sleep(pause)
            lateness = max(0.0, clock() - intended)
            late.append(lateness)
            pause = next_pause(pause, lateness, interval, idle)

    def start(self) -> "GilProbe":
        """Start the heartbeat (use the context manager unless you need the two halves)."""
        if self._thread is not None:
            raise RuntimeError("a GilProbe can be started only once")
        self.floor = timer_floor(self.interval)
        self._thread = threading.Thread(target=self._beat, name="gil-probe", daemon=True)
        self._started = _clock()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the heartbeat and wait for its last beat."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._stopped = _clock()

    def __enter__(self) -> "GilProbe":
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    @property
    def lifetime(self) -> float:
        """Seconds between start() and stop()."""
        return max(self._stopped - self._started, 0.0)

    def stats(self) -> ProbeStats:
        """Summary of the beats recorded so far (call after the probe stopped)."""
        return combined_stats([self])


def harness_probe() -> GilProbe:
    """The heartbeat the harness runs around every timed run (HEARTBEAT_S, backing off to
    IDLE_HEARTBEAT_S while the GIL is free)."""
    return GilProbe(HEARTBEAT_S, IDLE_HEARTBEAT_S)


def combined_stats(probes: "list[GilProbe]") -> ProbeStats:
    """One summary over several stopped probes, as if they were one probe whose lifetime
    is the sum of theirs (the harness probes each timed run, not the checks in between)."""
    values = sorted(v for probe in probes for v in probe._late)
    lifetime = max(sum(probe.lifetime for probe in probes), 1e-12)
    if not values:
        return EMPTY_STATS
    floor = probes[0].floor
    contention = min(1.0, sum(v - floor for v in values if v > floor) / lifetime)
    return ProbeStats(
        samples=len(values),
        p50_late_s=_quantile(values, 0.50),
        p99_late_s=_quantile(values, 0.99),
        max_late_s=values[-1],
        contention=contention,
    )


def knocker_available() -> bool:
    """True when the optional `gilknocker` package is importable."""
    try:
        import gilknocker  # noqa: F401
    except ImportError:
        return False
    return True


class KnockerProbe:
    """`gilknocker.KnockKnock` behind the same start/stop shape, for a second opinion.

    Its metric is a ratio 0..1 of time a native thread spent waiting to acquire the GIL;
    it is not the same definition as ours, so the lab compares rankings, not values.
    """

    def __init__(self, polling_interval_us: int = 1000) -> None:
        from gilknocker import KnockKnock

        self._knocker = KnockKnock(polling_interval_micros=polling_interval_us)
        self.contention: Optional[float] = None

    def __enter__(self) -> "KnockerProbe":
        self._knocker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.contention = float(self._knocker.contention_metric)
        self._knocker.stop()
