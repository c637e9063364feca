"""The lab's driver of the flag downloader: the I/O side of `gil-lab io` and `compare`.

flags/ stands alone (it imports nothing from the lab); this module runs its modes through
`flags.bench.measure_modes` with the lab's GIL heartbeat wrapped around each mode, and
turns each mode's figures into an `IoRow`. With a CPU load (`KERNEL/IMPL:THREADS`), that
many threads of this process run the kernel during each mode's downloads, so the rows show
what GIL-holding (or GIL-releasing) work next door does to I/O.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from types import TracebackType
from typing import Any, Optional, Sequence

from flags.bench import check_arguments, measure_modes
from flags.common import MODES
from labsrc.dynamics.load import BackgroundLoad, parse_load_spec
from labsrc.core.probe import GilProbe, ProbeStats

# Every downloader mode but the book's as_completed demo, which fetches 5 codes and
# prints futures' reprs: a lesson in the API, not a contender.
IO_MODES: tuple[str, ...] = tuple(m for m in MODES if m != "threadpool_ac")
IO_COUNT = 20  # flags per mode in `compare`: the book's 20 most populous countries


@dataclass(frozen=True)
class LoadContrast:
    """`compare`'s downloads under CPU load: the same modes with no load, then beside one
    pure-Python thread, then beside one thread of the same work with the GIL released.
    A short server delay, so the client's own turns at the GIL dominate the elapsed time."""

    modes: tuple[str, ...] = ("threadpool", "asyncio")
    count: int = IO_COUNT
    delay: float = 0.05
    loads: tuple[str, ...] = ("primes/py:1", "primes/cy_nogil:1")


IO_LOAD_CONTRAST = LoadContrast()


@dataclass
class IoRow:
    """One downloader mode's run: counts, elapsed time, and the GIL heartbeat beside it."""

    mode: str
    workers: int
    flags: int
    ok: int
    not_found: int
    errors: int
    elapsed_s: float
    delay_s: float = math.nan  # the server's delay per request
    speedup: float = math.nan  # sequential's elapsed over this mode's (same codes)
    req_per_s: float = math.nan
    gil_contention: float = math.nan
    gil_p50_late_ms: float = math.nan
    gil_p99_late_ms: float = math.nan
    cpu_load: str = ""  # KERNEL/IMPL:THREADS running beside the downloads ("" for none)
    load_work_per_s: float = math.nan  # work units per second that background load did
    vs_no_load: float = math.nan  # elapsed over the same mode's elapsed without the load

    @property
    def in_process(self) -> bool:
        """Whether the downloads ran in this process (the probe watches only this GIL)."""
        return "process" not in self.mode

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON/CSV row; NaN -> None."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "IoRow":
        known = {f.name: f for f in fields(cls)}
        return cls(**{k: (math.nan if v is None and known[k].type == "float" else v)
                      for k, v in row.items() if k in known})


IO_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(IoRow))


def check_io(modes: Sequence[str], count: int, delay: float, cpu_loads: Sequence[str] = ()) -> None:
    """ValueError naming what is allowed, for anything `measure_io` would reject."""
    check_arguments(modes, count, delay)
    for spec in cpu_loads:
        parse_load_spec(spec)


class _Watch:
    """Around one mode's downloads: the CPU load (if any) starts first, then the probe."""

    def __init__(self, cpu_load: str) -> None:
        self.cpu_load = cpu_load
        self.probe = GilProbe(interval=0.001)
        self.load: Optional[BackgroundLoad] = None
        self.work_per_s = math.nan

    def __enter__(self) -> "_Watch":
        if self.cpu_load:
            kernel, impl, threads = parse_load_spec(self.cpu_load)
            self.load = BackgroundLoad(kernel, impl, threads).start()
        self.probe.start()
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.probe.stop()
        if self.load is not None:
            # stop() raises LoadError for a wrong answer in the load, unless one is in flight.
            self.work_per_s = self.load.stop(raise_errors=exc_type is None).work_per_s

    def stats(self) -> ProbeStats:
        return self.probe.stats()


def measure_io(modes: Sequence[str], count: int, delay: float, cpu_load: str = "") -> list[IoRow]:
    """Run each mode against the embedded server, probed; one IoRow per mode.

    `cpu_load` ("KERNEL/IMPL:THREADS", e.g. "primes/py:1") runs that load beside each mode's
    downloads, and its work per second goes into the row.
    """
    rows = []
    for raw in measure_modes(list(modes), count, delay, watch=lambda: _Watch(cpu_load)):
        watched: _Watch = raw["watch"]
        stats = watched.stats()
        rows.append(IoRow(
            mode=raw["mode"], workers=raw["workers"], flags=raw["flags"], ok=raw["ok"],
            not_found=raw["not_found"], errors=raw["errors"], elapsed_s=raw["elapsed_s"],
            delay_s=delay, speedup=raw["speedup"] if raw["speedup"] is not None else math.nan,
            req_per_s=raw["req_per_s"] if raw["req_per_s"] is not None else math.nan,
            gil_contention=stats.contention, gil_p50_late_ms=stats.p50_late_s * 1e3,
            gil_p99_late_ms=stats.p99_late_s * 1e3, cpu_load=cpu_load,
            load_work_per_s=watched.work_per_s,
        ))
    return rows


def measure_io_under_loads(modes: Sequence[str], count: int, delay: float,
                           cpu_loads: Sequence[str]) -> list[IoRow]:
    """The modes without load, then under each load in turn (the contrast in one table)."""
    rows = measure_io(modes, count, delay)
    quiet = {r.mode: r.elapsed_s for r in rows}
    for spec in cpu_loads:
        for row in measure_io(modes, count, delay, cpu_load=spec):
            row.vs_no_load = row.elapsed_s / quiet[row.mode] if quiet[row.mode] > 0 else math.nan
            rows.append(row)
    return rows
