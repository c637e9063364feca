"""Reports: the aligned text table, JSON and CSV files, all from plain result rows.

Rows are dicts (what `Cell.as_dict()` and `flags.bench.measure_modes` return), so the
same functions serve the CPU matrix and the I/O comparison. Files are written atomically:
a temporary file in the target's folder, then `os.replace`, so a reader (or Ctrl-C) never
sees half a file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

Row = Mapping[str, Any]

# Fields every CPU result row carries (the JSON schema the issue fixes, plus extras).
CPU_FIELDS: tuple[str, ...] = (
    "kernel", "impl", "executor", "workers", "tasks", "scale", "repeats", "num_threads",
    "status", "reason", "wall_s", "wall_min_s", "wall_max_s", "cpu_s", "startup_s",
    "speedup", "efficiency", "throughput", "noisy", "gil_contention", "gil_p50_late_ms",
    "gil_p99_late_ms", "gilknocker", "verified",
)
IO_FIELDS: tuple[str, ...] = (
    "mode", "workers", "flags", "ok", "not_found", "errors", "elapsed_s", "speedup",
    "req_per_s", "gil_contention", "gil_p50_late_ms", "gil_p99_late_ms",
)

NOTES = {
    "speedup": "vs the same implementation's seq run with 1 worker, on the same tasks",
    "efficiency": "speedup / workers",
    "throughput": "work units (tasks x scale) per second; compare implementations by this",
    "num_threads": "prange implementations: num_threads = workers under seq, 1 inside pools",
    "gil_contention": "fraction 0..1 of the cell the GIL heartbeat waited beyond its 1 ms sleep",
    "cpu_s": "RUSAGE_SELF + RUSAGE_CHILDREN, plus CPU reported by live pool workers",
    "startup_s": "pool start-up, measured apart from (and not included in) wall_s",
    "noisy": "max/min wall over the repeats above 1.5",
}


def _num(fmt: str) -> Callable[[Any], str]:
    def show(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        return format(value, fmt)

    return show


def _seconds(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value * 1e3:.1f}ms" if value < 1 else f"{value:.3f}s"


def _range(row: Row) -> str:
    lo, hi = row.get("wall_min_s"), row.get("wall_max_s")
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return "-"
    return f"{_seconds(lo)}-{_seconds(hi)}" + (" !" if row.get("noisy") else "")


def _workers(row: Row) -> str:
    if not row.get("workers"):
        return "-"
    threads = row.get("num_threads")
    return f"{row['workers']} (omp {threads})" if threads is not None else str(row["workers"])


def _status(row: Row) -> str:
    status = row.get("status", "ok")
    label = {"ok": "ok", "failed": "FAILED", "skipped": "skipped", "unavailable": "n/a"}.get(status, status)
    return f"{label}: {row['reason']}" if row.get("reason") else label


@dataclass(frozen=True)
class Column:
    """A table column: header, how to render one row's cell, alignment."""

    header: str
    render: Callable[[Row], str]
    right: bool = True


POOLS_STARTED = ("procs", "interp")  # whose start-up is worth a column (threads start in microseconds)

LEGEND = ("speedup: vs the same implementation's seq/1 on the same tasks; work/s: throughput, compare "
          "implementations by it; GIL: share of the cell the heartbeat waited for the GIL (0..1); "
          "start-up: pool start, not in wall; !: max/min over repeats > 1.5")


def _key(name: str, show: Callable[[Any], str] = str) -> Callable[[Row], str]:
    return lambda row: show(row.get(name))


CPU_COLUMNS: tuple[Column, ...] = (
    Column("kernel", _key("kernel"), right=False),
    Column("impl", _key("impl"), right=False),
    Column("executor", _key("executor"), right=False),
    Column("workers", _workers),
    Column("wall", _key("wall_s", _seconds)),
    Column("min-max", _range),
    Column("cpu", _key("cpu_s", _seconds)),
    Column("start-up", lambda r: _seconds(r.get("startup_s")) if r.get("executor") in POOLS_STARTED else "-"),
    Column("speedup", _key("speedup", _num(".2f"))),
    Column("eff", _key("efficiency", _num(".0%"))),
    Column("work/s", _key("throughput", _num(".3g"))),
    Column("GIL", _key("gil_contention", _num(".2f"))),
    Column("ok", _status, right=False),
)

IO_COLUMNS: tuple[Column, ...] = (
    Column("mode", _key("mode"), right=False),
    Column("workers", _key("workers")),
    Column("ok", _key("ok")),
    Column("404", _key("not_found")),
    Column("errors", _key("errors")),
    Column("elapsed", _key("elapsed_s", _seconds)),
    Column("speedup", _key("speedup", _num(".2f"))),
    Column("req/s", _key("req_per_s", _num(".1f"))),
    Column("GIL", _key("gil_contention", _num(".2f"))),
    Column("p99 late", _key("gil_p99_late_ms", _num(".2f"))),
)


KNOCKER_COLUMN = Column("knocker", _key("gilknocker", _num(".2f")))


def cpu_columns(rows: Sequence[Row]) -> tuple[Column, ...]:
    """The CPU table's columns: gilknocker's metric beside ours when the run measured it."""
    if not any(isinstance(r.get("gilknocker"), float) for r in rows):
        return CPU_COLUMNS
    at = [c.header for c in CPU_COLUMNS].index("GIL") + 1
    return CPU_COLUMNS[:at] + (KNOCKER_COLUMN,) + CPU_COLUMNS[at:]


def format_table(rows: Sequence[Row], columns: Optional[Sequence[Column]] = None) -> str:
    """Rows as an aligned text table; the last column is left unpadded (it holds reasons)."""
    columns = cpu_columns(rows) if columns is None else columns
    cells = [[c.header for c in columns]] + [[c.render(r) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = []
    for n, line in enumerate(cells):
        parts = []
        for i, (text, col) in enumerate(zip(line, columns)):
            last = i == len(columns) - 1
            parts.append(text if last else (text.rjust(widths[i]) if col.right else text.ljust(widths[i])))
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write `data` (text as UTF-8, or bytes) to `path` via a temporary file in the same
    folder and os.replace: a reader sees the old file or the new one, never half of it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if isinstance(data, bytes):
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(data)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; reports are ordinary files
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf: None says "not measured".
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def results_json(env: Mapping[str, Any], rows: Sequence[Row], **extra: Any) -> str:
    """The JSON document: {"env": ..., "results": [...], "notes": ..., **extra}."""
    doc: dict[str, Any] = {
        "env": dict(env),
        "results": [{k: _clean(v) for k, v in r.items()} for r in rows],
        "notes": NOTES,
    }
    for key, value in extra.items():
        doc[key] = value
    return json.dumps(doc, indent=2, default=str) + "\n"


def rows_csv(rows: Sequence[Row], fields: Sequence[str]) -> str:
    """CSV text with `fields` as columns (lists such as spans are left out)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if _clean(row.get(k)) is None else row.get(k)) for k in fields})
    return buf.getvalue()


def write_json(path: str | os.PathLike[str], env: Mapping[str, Any], rows: Sequence[Row], **extra: Any) -> Path:
    """Write the JSON report atomically."""
    return atomic_write(path, results_json(env, rows, **extra))


def write_csv(path: str | os.PathLike[str], rows: Sequence[Row], fields: Sequence[str] = CPU_FIELDS) -> Path:
    """Write the CSV report atomically."""
    return atomic_write(path, rows_csv(rows, fields))
