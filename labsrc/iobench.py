"""The lab's driver of the flag downloader: the I/O side of `gil-lab io` and `compare`.

flags/ stands alone (it imports nothing from the lab); this module runs its modes through
`flags.bench.measure_modes` with the lab's GIL heartbeat wrapped around each mode, and
turns each mode's figures into an `IoRow`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Optional, Sequence

from flags.bench import check_arguments, measure_modes
from flags.common import MODES
from labsrc.probe import GilProbe

# Every downloader mode but the book's as_completed demo, which fetches 5 codes and
# prints futures' reprs: a lesson in the API, not a contender.
IO_MODES: tuple[str, ...] = tuple(m for m in MODES if m != "threadpool_ac")
IO_COUNT = 20  # flags per mode in `compare`: the book's 20 most populous countries


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
    speedup: float = math.nan  # sequential's elapsed over this mode's (same codes)
    req_per_s: float = math.nan
    gil_contention: float = math.nan
    gil_p50_late_ms: float = math.nan
    gil_p99_late_ms: float = math.nan
    cpu_load: str = ""  # KERNEL/IMPL:THREADS running beside the downloads ("" for none)
    load_work_per_s: float = math.nan  # work units per second that background load did

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


def check_io(modes: Sequence[str], count: int, delay: float) -> None:
    """ValueError naming what is allowed, for anything `measure_io` would reject."""
    check_arguments(modes, count, delay)


def measure_io(modes: Sequence[str], count: int, delay: float, cpu_load: str = "",
               load_work_per_s: Optional[float] = None) -> list[IoRow]:
    """Run each mode against the embedded server, probed; one IoRow per mode.

    `cpu_load` only labels the rows: the caller runs that load around this call.
    """
    rows = []
    for raw in measure_modes(list(modes), count, delay, watch=lambda: GilProbe(interval=0.001)):
        stats = raw["watch"].stats()
        rows.append(IoRow(
            mode=raw["mode"], workers=raw["workers"], flags=raw["flags"], ok=raw["ok"],
            not_found=raw["not_found"], errors=raw["errors"], elapsed_s=raw["elapsed_s"],
            speedup=raw["speedup"] if raw["speedup"] is not None else math.nan,
            req_per_s=raw["req_per_s"] if raw["req_per_s"] is not None else math.nan,
            gil_contention=stats.contention, gil_p50_late_ms=stats.p50_late_s * 1e3,
            gil_p99_late_ms=stats.p99_late_s * 1e3, cpu_load=cpu_load,
            load_work_per_s=math.nan if load_work_per_s is None else load_work_per_s,
        ))
    return rows
