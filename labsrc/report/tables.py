"""Reports: the aligned text table, JSON and CSV files.

The CPU side's rows are `labsrc.core.results.Cell`, the I/O side's `labsrc.harness.iobench.IoRow`; both
become plain dicts only here, at the file edge (`as_dict`), and the CSV columns are their
dataclass fields. Files are written atomically: a temporary file in the target's folder,
then `os.replace`, so a reader (or Ctrl-C) never sees half a file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from labsrc.core.ceiling import describe as describe_ceilings
from labsrc.core.files import atomic_write
from labsrc.core.names import ExecutorName, Status
from labsrc.core.results import CSV_FIELDS, SCHEMA, SPREAD_LIMIT, Cell

NOTES = {
    "walls": "wall seconds of each timed run, raw; wall_s/min/max are derived from them",
    "speedup": "vs the same implementation's seq run with 1 worker, on the same tasks",
    "efficiency": "speedup / workers",
    "speedup_low": "the speedup's noise: the baseline's fastest run over this cell's slowest",
    "speedup_high": "the baseline's slowest run over this cell's fastest",
    "above_limit": ("'' or, where the median speedup exceeds the workers: 'within noise' (speedup_low "
                    "reaches the limit: read it as 100%) or 'beyond noise' (a fault to look into)"),
    "probed_wall_s": ("wall of the one run with the GIL heartbeat on; kept apart from walls, so that no "
                      "speedup carries the heartbeat's cost"),
    "probe_cost": "probed_wall_s over wall_s, minus 1: what the heartbeat costs this cell",
    "throughput": "work units (tasks x scale) per second; compare implementations by this",
    "num_threads": "prange implementations: num_threads = workers under seq, 1 inside pools",
    "payload": ("process executors: 'recipe' sends (kernel, scale, task index) and gets small "
                "answers whole, large ones as a checksum (XXH3, else CRC-32); 'data' pickles "
                "the input and the answer"),
    "gil_contention": ("fraction 0..1 of the probed run the GIL heartbeat waited beyond its 1 ms sleep "
                       "(the timed runs carry no heartbeat)"),
    "cpu_s": "RUSAGE_SELF + RUSAGE_CHILDREN, plus CPU reported by live pool workers",
    "startup_s": "pool start-up, measured apart from (and not included in) wall_s",
    "load_s": "importing (and compiling, for JIT peers) the implementation, apart from wall_s",
    "noisy": f"max/min wall over the repeats above {SPREAD_LIMIT}",
    "ceiling_ratios": ("the machine's parallel ceiling for this cell's workers in each of its rounds: a plain "
                       "C loop (cext._spin) alone, then as `workers` threads at once; workers x alone / together"),
    "ceiling": "median of ceiling_ratios (none for one worker)",
    "of_ceiling": "speedup / ceiling: 1.0 is all the machine gave a plain C loop in the same rounds",
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


def _range(cell: Cell) -> str:
    if not cell.walls:
        return "-"
    return f"{_seconds(cell.wall_min_s)}-{_seconds(cell.wall_max_s)}" + (" !" if cell.noisy else "")


def _workers(cell: Cell) -> str:
    if not cell.workers:
        return "-"
    threads = cell.num_threads
    return f"{cell.workers} (omp {threads})" if threads is not None else str(cell.workers)


def _executor(cell: Cell) -> str:
    return f"{cell.executor}[{cell.payload}]" if cell.payload else str(cell.executor)


_STATUS_LABELS = {Status.OK: "ok", Status.FAILED: "FAILED", Status.SKIPPED: "skipped",
                  Status.UNAVAILABLE: "n/a"}


def _status(cell: Cell) -> str:
    label = _STATUS_LABELS.get(cell.status, str(cell.status))
    return f"{label}: {cell.reason}" if cell.reason else label


@dataclass(frozen=True)
class Column:
    """A table column: header, how to render one row's cell, alignment."""

    header: str
    render: Callable[[Any], str]
    right: bool = True


# Executors whose start-up is worth a column (threads start in microseconds).
POOLS_STARTED = (ExecutorName.PROCS, ExecutorName.INTERP, ExecutorName.MP_POOL,
                 ExecutorName.DASK_THREADS, ExecutorName.DASK_PROCS)

GIL_NOTE = "share of the cell the heartbeat waited for the GIL (0..1)"
NO_GIL_NOTE = ("share of the cell the heartbeat woke late (0..1); with the GIL disabled there is no GIL "
               "to wait for, so this is scheduling latency (busy threads outnumbering free CPUs), not "
               "GIL contention")


def gil_column_note(env: Optional[Mapping[str, Any]] = None) -> str:
    """What the GIL column means for rows measured in `env` (an env block; None: a GIL build):
    GIL waiting, or scheduling latency where the GIL is disabled (free-threaded builds)."""
    return NO_GIL_NOTE if env is not None and env.get("gil_enabled") is False else GIL_NOTE


def legend(env: Optional[Mapping[str, Any]] = None) -> str:
    """The table's legend for a run in `env`; rows run under another interpreter without a
    GIL (env["interpreters"], from --python) get their own sentence, the machine's ceiling
    (env["ceiling"]) its figures."""
    text = ("speedup: vs the same implementation's seq/1 on the same tasks; work/s: throughput, compare "
            f"implementations by it; GIL: {gil_column_note(env)}; start-up: pool start, not in wall; "
            f"[recipe]/[data]: what a process task ships; !: max/min over repeats > {SPREAD_LIMIT}; "
            "eff 100%~: the median speedup is above the workers but within its own min-max noise "
            "(no run beats that limit on equal work); NNN%?: above it beyond noise, look into it; "
            "timed runs carry no GIL probe, a run apart from them measures GIL; vs ceil: the speedup over "
            "the machine's ceiling, what a plain C loop got from as many workers in the same rounds "
            "(as many processes for process cells)")
    ceilings = describe_ceilings((env or {}).get("ceiling") or {})
    if ceilings:
        text += f" (here {ceilings})"
    others = (env or {}).get("interpreters") or {}
    free = [label for label, block in others.items()
            if isinstance(block, Mapping) and block.get("gil_enabled") is False]
    if free:
        rows = ", ".join(f"@{label}" for label in free)
        text += f". GIL for rows {rows}: {NO_GIL_NOTE}"
    return text


LEGEND = legend()


def notes(env: Optional[Mapping[str, Any]] = None) -> dict[str, str]:
    """NOTES for results.json, with the GIL column's meaning where the GIL was disabled."""
    if gil_column_note(env) == GIL_NOTE:
        return dict(NOTES)
    return {**NOTES, "gil_contention": NO_GIL_NOTE}


def _key(name: str, show: Callable[[Any], str] = str) -> Callable[[Any], str]:
    return lambda row: show(getattr(row, name))


def pool_startup_s(cell: Cell) -> Optional[float]:
    """The cell's pool start-up; None where there is no pool, or none was started (the
    executor is unavailable here)."""
    started = cell.executor in POOLS_STARTED and cell.status != Status.UNAVAILABLE
    return cell.startup_s if started else None


def _efficiency(cell: Cell) -> str:
    """speedup / workers; never a figure above 100% as if it were real: a median above the
    limit within its own min-max noise reads "100%~", one beyond it "NNN%?" (see LEGEND)."""
    if cell.above_limit == "within noise":
        return "100%~"
    text = _num(".0%")(cell.efficiency)
    return text + "?" if cell.above_limit else text


CPU_COLUMNS: tuple[Column, ...] = (
    Column("kernel", _key("kernel"), right=False),
    Column("impl", _key("impl"), right=False),
    Column("executor", _executor, right=False),
    Column("workers", _workers),
    Column("wall", _key("wall_s", _seconds)),
    Column("min-max", _range),
    Column("cpu", _key("cpu_s", _seconds)),
    Column("start-up", lambda c: _seconds(pool_startup_s(c))),
    Column("speedup", _key("speedup", _num(".2f"))),
    Column("eff", _efficiency),
    Column("vs ceil", _key("of_ceiling", _num(".0%"))),
    Column("work/s", _key("throughput", _num(".3g"))),
    Column("GIL", _key("gil_contention", _num(".2f"))),
    Column("ok", _status, right=False),
)

IO_COLUMNS: tuple[Column, ...] = (
    Column("mode", _key("mode"), right=False),
    Column("delay", _key("delay_s", _seconds)),
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

# Shown when downloads ran beside a CPU load (gil-lab io --cpu-load).
LOAD_COLUMNS: tuple[Column, ...] = (
    Column("CPU load", lambda r: r.cpu_load or "none", right=False),
    Column("vs no load", _key("vs_no_load", _num(".2f"))),
    Column("load work/s", _key("load_work_per_s", _num(".3g"))),
)


def io_columns(rows: Sequence[Any]) -> tuple[Column, ...]:
    """The I/O table's columns: the load columns when any row ran beside a CPU load."""
    if not any(getattr(r, "cpu_load", "") for r in rows):
        return IO_COLUMNS
    return IO_COLUMNS[:1] + LOAD_COLUMNS + IO_COLUMNS[1:]


KNOCKER_COLUMN = Column("knocker", _key("gilknocker", _num(".2f")))


def cpu_columns(cells: Sequence[Cell]) -> tuple[Column, ...]:
    """The CPU table's columns: gilknocker's metric beside ours when the run measured it."""
    if not any(isinstance(c.gilknocker, float) for c in cells):
        return CPU_COLUMNS
    at = [c.header for c in CPU_COLUMNS].index("GIL") + 1
    return CPU_COLUMNS[:at] + (KNOCKER_COLUMN,) + CPU_COLUMNS[at:]


def format_table(rows: Sequence[Any], columns: Optional[Sequence[Column]] = None) -> str:
    """Rows (Cells by default, or IoRows with IO_COLUMNS) as an aligned text table; the
    last column is left unpadded (it holds reasons)."""
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




def results_json(env: Mapping[str, Any], cells: Sequence[Cell], io_rows: Sequence[Any] = (),
                 **extra: Any) -> str:
    """The JSON document: {"schema", "env", "results": [...], "io": [...], "notes", **extra}."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "env": dict(env),
        "results": [c.as_dict() for c in cells],
        "io": [r.as_dict() for r in io_rows],
        "notes": notes(env),
    }
    doc.update(extra)
    return json.dumps(doc, indent=2, default=str) + "\n"


def rows_csv(rows: Sequence[Any], fields: Sequence[str]) -> str:
    """CSV text with `fields` as columns, from rows that have `as_dict()`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        plain = row.as_dict(raw=False) if isinstance(row, Cell) else row.as_dict()
        writer.writerow({k: ("" if plain.get(k) is None else plain[k]) for k in fields})
    return buf.getvalue()


def write_json(path: str | os.PathLike[str], env: Mapping[str, Any], cells: Sequence[Cell],
               io_rows: Sequence[Any] = (), **extra: Any) -> Path:
    """Write the JSON report atomically."""
    return atomic_write(path, results_json(env, cells, io_rows, **extra))


def write_csv(path: str | os.PathLike[str], rows: Sequence[Any], fields: Sequence[str] = CSV_FIELDS) -> Path:
    """Write the CSV report atomically (CPU cells by default; pass IO_FIELDS for I/O rows)."""
    return atomic_write(path, rows_csv(rows, fields))
