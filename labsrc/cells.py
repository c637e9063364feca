"""What one cell of the matrix is: the options it is measured with and the row it yields.

A *cell* is one (kernel, implementation, executor, workers). `Cell` is a row of every
report (JSON, CSV, table, plots); `Options` says how cells are measured.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

SPREAD_LIMIT = 1.5  # max/min above this flags a cell as noisy
TARGET_S = 0.2  # the least sequential work per calibrated workload


@dataclass(frozen=True)
class Options:
    """How to measure: repeats, tasks per cell, calibration target or a fixed scale."""

    repeats: int = 5
    tasks: int = 8
    target_s: float = TARGET_S
    scale: Optional[int] = None  # fixed scale: skip calibration (tests, reproductions)
    quick: bool = False
    probe: bool = True
    knocker: bool = False
    warmup: bool = True


@dataclass
class Cell:
    """One measured cell: a row of every report (spans feed the Gantt plot only)."""

    kernel: str
    impl: str
    executor: str
    workers: int
    tasks: int = 0
    scale: int = 0
    repeats: int = 0
    num_threads: Optional[int] = None
    status: str = "ok"  # ok | failed | skipped | unavailable | interrupted
    reason: str = ""
    wall_s: float = math.nan
    wall_min_s: float = math.nan
    wall_max_s: float = math.nan
    cpu_s: float = math.nan
    startup_s: float = 0.0
    speedup: float = math.nan
    efficiency: float = math.nan
    throughput: float = math.nan  # work units (tasks * scale) per second
    noisy: bool = False
    gil_contention: float = math.nan
    gil_p50_late_ms: float = math.nan
    gil_p99_late_ms: float = math.nan
    gilknocker: Optional[float] = None
    ipc_bytes: Optional[int] = None  # pickled args + result of one task (process pools only)
    verified: bool = False
    walls: list[float] = field(default_factory=list)
    spans: list[tuple[float, float, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self, spans: bool = True) -> dict[str, Any]:
        """Plain dict for JSON/CSV; NaN becomes None so the JSON stays standard."""
        row = asdict(self)
        if not spans:
            row.pop("spans")
            row.pop("walls")
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
