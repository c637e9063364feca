"""Typed rows of the dynamics experiments, and their conversion at the edges only:
dicts for JSON/CSV, aligned text for the terminal.

Times in rows are milliseconds (`*_ms`) or seconds (`*_s`), as the field names say;
`work_per_s` is the background load's work units (kernel tasks at scale 1) per second.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from labsrc.core.files import atomic_write

JSON_VERSION = 1


@dataclass(frozen=True)
class LatencyRow:
    """Response time of the echo thread under one background load."""

    kernel: str
    impl: str
    threads: int
    switch_interval_s: float
    scale: Optional[int]
    call_ms: Optional[float]  # one background call's length (the GIL-held chunk for cy_gil)
    sent: int
    answered: int
    lost: int
    p50_ms: Optional[float]
    p90_ms: Optional[float]
    p99_ms: Optional[float]
    max_ms: Optional[float]
    one_way_p50_ms: Optional[float]  # client send -> echo thread back from recvfrom (ccbench's figure)
    work_per_s: Optional[float]
    duration_s: float


@dataclass(frozen=True)
class BandwidthRow:
    """Ping-pong packets per second through the echo thread under one background load."""

    kernel: str
    impl: str
    threads: int
    switch_interval_s: float
    scale: Optional[int]
    call_ms: Optional[float]
    packets: int
    lost: int
    packets_per_s: float
    pct_of_baseline: Optional[float]
    work_per_s: Optional[float]
    duration_s: float


@dataclass(frozen=True)
class LoopRow:
    """The event loop's heartbeat lag and the downloads' time while CPU work runs one way."""

    mode: str
    impl: Optional[str]
    tasks: int
    task_ms: Optional[float]
    beats: int
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    cpu_s: Optional[float]  # from the first task's start to the last one's end
    flags: int
    flags_ok: int
    download_s: float


@dataclass(frozen=True)
class TraceRow:
    """One thread of a traced cell: how often py-spy found it holding the GIL."""

    kernel: str
    impl: str
    thread: str
    gil_samples: int  # samples in which it held the GIL (py-spy raw output: exact)
    gil_share: float  # gil_samples / the samples py-spy could take in the window (rate x window)
    handovers_seen: int  # GIL passed to it from another thread, as seen in the chrometrace (a floor)
    cpu_share: Optional[float]  # its CPU time in kernel calls / the window (1: a core to itself)


Row = Any  # any of the dataclasses above


def as_dict(row: Row) -> dict[str, Any]:
    """A row as a plain dict (NaN/inf become None: JSON has neither)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in dataclasses.asdict(row).items()}


def field_names(row_type: type) -> list[str]:
    """The columns of a row type, in declaration order."""
    return [f.name for f in dataclasses.fields(row_type)]


def write_json(path: str, experiment: str, env: Mapping[str, Any], rows: Sequence[Row],
               findings: Sequence[str], **extra: Any) -> None:
    """{"version", "experiment", "env", "rows", "findings", **extra}, written atomically."""
    doc = {"version": JSON_VERSION, "experiment": experiment, "env": dict(env),
           "rows": [as_dict(r) for r in rows], "findings": list(findings), **extra}
    atomic_write(path, json.dumps(doc, indent=2, default=str) + "\n")


def write_csv(path: str, rows: Sequence[Row], row_type: type) -> None:
    """One line per row, the row type's fields as columns, written atomically."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=field_names(row_type), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in as_dict(row).items()})
    atomic_write(path, buf.getvalue())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def format_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """Aligned text: a header and one line per row, numbers right-aligned."""
    cells = [[_cell(as_dict(r)[c]) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in cells]
    return "\n".join(lines)
