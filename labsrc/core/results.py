"""The lab's results: `Cell`, one measured (kernel, implementation, executor, workers).

A cell keeps its raw repeat times (`walls`, `cpus`) and derives every statistic from them
on demand, as pyperf does: median, min, max, spread, throughput; its speedup comes from
the same implementation's seq/1 median (`baseline_s`, filled in by the matrix). Rows
become plain dicts only at the JSON/CSV edge (`as_dict`), and come back with `from_dict`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Optional

from labsrc.core.names import ExecutorName, Payload, Status

SCHEMA = 1  # results.json's "schema": bump when a field changes meaning or goes away
SPREAD_LIMIT = 1.5  # max/min wall over the repeats above this marks a cell as noisy

Span = tuple[float, float, int]  # start, end (s, from the run's first start), worker id


def _median(values: tuple[float, ...]) -> float:
    return statistics.median(values) if values else math.nan


@dataclass
class Cell:
    """One measured cell: the raw figures of its timed runs and what they mean."""

    kernel: str
    impl: str
    executor: str
    workers: int
    tasks: int = 0
    scale: int = 0
    repeats: int = 0
    num_threads: Optional[int] = None  # prange implementations: OpenMP threads per call
    payload: Optional[Payload] = None  # process executors: what travels per task
    status: Status = Status.OK
    reason: str = ""
    walls: tuple[float, ...] = ()  # wall seconds of each timed run (raw, in run order)
    cpus: tuple[float, ...] = ()  # CPU seconds of each timed run
    startup_s: float = 0.0  # pool start-up, timed apart from the runs
    load_s: float = math.nan  # importing (and compiling) the implementation
    baseline_s: float = math.nan  # median wall of the same implementation's seq/1 cell
    baseline_min_s: float = math.nan  # and its fastest and slowest runs (the speedup's noise)
    baseline_max_s: float = math.nan
    probed_wall_s: float = math.nan  # wall of the run with the GIL probe on, apart from `walls`
    gil_contention: float = math.nan
    gil_p50_late_ms: float = math.nan
    gil_p99_late_ms: float = math.nan
    gilknocker: Optional[float] = None
    ipc_bytes: Optional[int] = None  # pickled task + answer of one task (process executors)
    verified: bool = False
    spans: tuple[Span, ...] = field(default=(), repr=False)  # the median run's tasks
    # the machine's parallel ceiling for `workers` in each round this cell was timed in
    # (labsrc.core.ceiling: a plain C loop alone and `workers` copies at once)
    ceiling_ratios: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def wall_s(self) -> float:
        """Median wall seconds over the timed runs."""
        return _median(self.walls)

    @property
    def wall_min_s(self) -> float:
        return min(self.walls) if self.walls else math.nan

    @property
    def wall_max_s(self) -> float:
        return max(self.walls) if self.walls else math.nan

    @property
    def cpu_s(self) -> float:
        """Median CPU seconds (parent + children + live pool workers) over the timed runs."""
        return _median(self.cpus)

    @property
    def noisy(self) -> bool:
        return bool(self.walls) and self.wall_max_s > SPREAD_LIMIT * self.wall_min_s

    @property
    def throughput(self) -> float:
        """Work units (tasks x scale) per second of median wall."""
        wall = self.wall_s
        return self.tasks * self.scale / wall if wall > 0 else math.nan

    @property
    def speedup(self) -> float:
        """The same implementation's seq/1 median wall over this cell's (same tasks)."""
        wall = self.wall_s
        return self.baseline_s / wall if wall > 0 else math.nan

    @property
    def speedup_low(self) -> float:
        """The speedup's noise, low end: the baseline's fastest run over this cell's slowest."""
        return self.baseline_min_s / self.wall_max_s if self.walls else math.nan

    @property
    def speedup_high(self) -> float:
        """The speedup's noise, high end: the baseline's slowest run over this cell's fastest."""
        return self.baseline_max_s / self.wall_min_s if self.walls else math.nan

    @property
    def efficiency(self) -> float:
        return self.speedup / self.workers if self.workers else math.nan

    @property
    def above_limit(self) -> str:
        """Whether the median speedup is above the worker count, which no parallel run can
        really beat on equal work: "" (it is not), "within noise" (its own min-max range
        reaches back to the limit: read it as 100%) or "beyond noise" (a fault to look into:
        a baseline slowed by something the cell did not share)."""
        if not self.workers or not self.speedup > self.workers:
            return ""
        return "within noise" if self.speedup_low <= self.workers else "beyond noise"

    @property
    def ceiling(self) -> float:
        """What the machine gave a plain C loop with `workers` copies, median over this
        cell's rounds (NaN for one worker or where it was not measured)."""
        return _median(self.ceiling_ratios)

    @property
    def of_ceiling(self) -> float:
        """The speedup over the ceiling: 1.0 is all the machine gave in those rounds."""
        ceiling = self.ceiling
        return self.speedup / ceiling if ceiling > 0 else math.nan

    @property
    def probe_cost(self) -> float:
        """What the GIL heartbeat cost this cell: its probed run's wall over the median timed
        one, minus 1 (NaN without a probed run). Not in any speedup: timed runs carry no probe."""
        wall = self.wall_s
        return self.probed_wall_s / wall - 1 if wall > 0 else math.nan

    @property
    def label(self) -> str:
        """kernel/impl/executor xN, with the payload where there is one."""
        where = f"{self.executor}" + (f"[{self.payload}]" if self.payload else "")
        return f"{self.kernel}/{self.impl}/{where}x{self.workers}"

    def as_dict(self, raw: bool = True) -> dict[str, Any]:
        """Plain JSON/CSV row: the stored fields, then the derived figures; NaN -> None.

        `raw=False` leaves out the lists (walls, cpus, spans), as CSV does.
        """
        row: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in RAW_FIELDS:
                if raw:
                    row[f.name] = [list(v) if isinstance(v, tuple) else v for v in value]
                continue
            row[f.name] = str(value) if isinstance(value, (Status, Payload, ExecutorName)) else value
        for name in DERIVED_FIELDS:
            row[name] = getattr(self, name)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "Cell":
        """A Cell from `as_dict()` output (derived figures are recomputed, not trusted)."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, value in row.items():
            if name not in known:
                continue
            if value is None and name in _FLOAT_FIELDS:
                value = math.nan
            elif name in ("walls", "cpus", "ceiling_ratios"):
                value = tuple(float(v) for v in value or ())
            elif name == "spans":
                value = tuple((float(a), float(b), int(w)) for a, b, w in value or ())
            elif name == "status":
                value = Status(value)
            elif name == "payload" and value is not None:
                value = Payload(value)
            kwargs[name] = value
        return cls(**kwargs)


RAW_FIELDS = ("walls", "cpus", "spans", "ceiling_ratios")
DERIVED_FIELDS = ("wall_s", "wall_min_s", "wall_max_s", "cpu_s", "speedup", "speedup_low", "speedup_high",
                  "efficiency", "above_limit", "probe_cost", "throughput", "noisy", "ceiling", "of_ceiling")
_FLOAT_FIELDS = {f.name for f in fields(Cell) if f.type == "float"}

#: CSV columns: every stored scalar field and every derived figure, in that order.
CSV_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(Cell) if f.name not in RAW_FIELDS
) + DERIVED_FIELDS
