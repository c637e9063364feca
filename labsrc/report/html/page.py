"""The HTML report of one run: a single self-contained page, rendered with Jinja2.

Order on the page: findings (one per lesson, labsrc.report.lessons), the environment, the matrix
as a table sortable by any column, the speedup plots, the timelines, the I/O tables and
plot. The figures are SVG embedded as data: URIs, the style sheet and the sorting script
inline, and a Content-Security-Policy forbids every network fetch, so the one file opens
offline and can be mailed. Autoescaping is on: every string that comes from the data is
escaped by the template engine.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from labsrc.report import tables as report
from labsrc.harness.iobench import IoRow
from labsrc.report.lessons import lessons
from labsrc.report.lessons.io import split_io
from labsrc.core.results import Cell

INSTALL_HINT = "pip install Jinja2 (a dependency of gil-lab: reinstall it with pip install -e .)"
TEMPLATE = "report.html.j2"

# Columns of the text table whose order is numeric, and the figure each one sorts by.
NUMERIC_KEYS: dict[str, Callable[[Cell], Optional[float]]] = {
    "workers": lambda c: c.workers,
    "wall": lambda c: c.wall_s,
    "min-max": lambda c: c.wall_min_s,
    "cpu": lambda c: c.cpu_s,
    "start-up": report.pool_startup_s,
    "speedup": lambda c: c.speedup,
    "eff": lambda c: c.efficiency,
    "work/s": lambda c: c.throughput,
    "GIL": lambda c: c.gil_contention,
    "knocker": lambda c: c.gilknocker,
}
IO_KEYS: dict[str, Callable[[IoRow], Optional[float]]] = {
    "workers": lambda r: r.workers, "ok": lambda r: r.ok, "404": lambda r: r.not_found,
    "errors": lambda r: r.errors, "elapsed": lambda r: r.elapsed_s, "speedup": lambda r: r.speedup,
    "req/s": lambda r: r.req_per_s, "GIL": lambda r: r.gil_contention, "p99 late": lambda r: r.gil_p99_late_ms,
    "load work/s": lambda r: r.load_work_per_s, "vs no load": lambda r: getattr(r, "vs_no_load", None),
}
GAIN, NO_GAIN = 1.5, 1.15  # speedup cells shaded as "ran in parallel" / "no real gain"
# Findings whose table cells ending in "x" are speedups (shaded like the matrix); in the
# others an "x" figure may be a slowdown factor or a throughput ratio.
SHADED_FINDINGS = ("gil", "compiled", "processes", "openmp", "dask")
_SPEEDUP_TEXT = re.compile(r"^(\d+(?:\.\d+)?)x$")


def shade(text: str) -> str:
    """CSS class of a findings-table cell: "gain", "nogain" or "" (not a plain speedup)."""
    match = _SPEEDUP_TEXT.match(str(text))
    if not match:
        return ""
    value = float(match.group(1))
    return "gain" if value >= GAIN else "nogain" if value <= NO_GAIN else ""


class ReportUnavailable(RuntimeError):
    """Jinja2 (the `report` extra) is not installed."""


def jinja_available() -> bool:
    """Whether the HTML report can be rendered here."""
    try:
        import jinja2  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Table:
    """A table for the template: headers (with their sort type) and rows of cells."""

    headers: list[tuple[str, str]]  # (label, "number" | "text")
    rows: list[dict[str, Any]]  # {"cells": [(text, sort key or "", css class)], "css": row class}


def _sort_key(value: Any) -> str:
    """data-sort attribute: a number as text, "" for a missing one (sorts last)."""
    if value is None or isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(float(value))


def matrix_table(cells: Sequence[Cell]) -> Table:
    """The CPU matrix as the text table shows it, with numeric sort keys and shading."""
    columns = report.cpu_columns(cells)
    headers = [(c.header, "number" if c.header in NUMERIC_KEYS else "text") for c in columns]
    rows = []
    for cell in cells:
        row = []
        for column in columns:
            key = NUMERIC_KEYS.get(column.header)
            css = ""
            baseline = cell.executor == "seq" and cell.workers == 1  # 1.00x by definition
            if column.header == "speedup" and math.isfinite(cell.speedup) and not baseline:
                css = "gain" if cell.speedup >= GAIN else "nogain" if cell.speedup <= NO_GAIN else ""
            row.append((column.render(cell), _sort_key(key(cell)) if key else "", css))
        status = "failed" if cell.status == "failed" else "" if cell.ok else "missing"
        rows.append({"cells": row, "css": " ".join(filter(None, [status, "noisy" if cell.noisy else ""]))})
    return Table(headers, rows)


def io_table(rows: Sequence[IoRow]) -> Table:
    """I/O rows as the text table shows them, with the CPU-load columns when any row has one."""
    if hasattr(report, "io_columns"):  # the text table's own choice, load columns included
        columns = list(report.io_columns(rows))
    else:
        columns = list(report.IO_COLUMNS)
        if any(r.cpu_load for r in rows):
            columns.insert(1, report.Column("CPU load", lambda r: r.cpu_load or "none", right=False))
            columns.append(report.Column("load work/s", lambda r: f"{r.load_work_per_s:.3g}"
                                         if math.isfinite(r.load_work_per_s) else "-"))
    headers = [(c.header, "number" if c.header in IO_KEYS else "text") for c in columns]
    table = [{"cells": [(c.render(r), _sort_key(IO_KEYS[c.header](r)) if c.header in IO_KEYS else "", "")
                        for c in columns], "css": ""} for r in rows]
    return Table(headers, table)


def environment(env: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The facts a reader needs first: Python and its build, the GIL, CPUs, the extensions."""
    from labsrc.core.ceiling import describe as describe_ceilings
    from labsrc.core.envinfo import describe_optimisation

    def have(key: str) -> bool:
        return env.get(key) is not None

    facts = []
    if have("python_version"):
        build = describe_optimisation(env.get("python_pgo"), env.get("python_lto"))
        debug = ", debug build" if env.get("python_debug_build") else ""
        facts.append(("Python", f"{env.get('python_implementation', '')} {env['python_version']} ({build}{debug})".strip()))
    if have("gil_enabled"):
        free = env.get("free_threaded_build")
        gil = "enabled" if env["gil_enabled"] else "disabled"
        facts.append(("GIL", gil + (" (free-threaded build)" if free else "")))
    if have("cpu_count"):
        cpus = f"{env['cpu_count']} usable of {env.get('cpu_count_os', env['cpu_count'])}"
        busy = env.get("busy_cpus_at_start")
        if isinstance(busy, (int, float)):
            cpus += f"; {busy:.1f} busy with other programs as the run started"
        facts.append(("CPUs", cpus))
    ceilings = describe_ceilings(env.get("ceiling") or {})
    if ceilings:  # what the cores gave a plain C loop in the cells' own rounds
        facts.append(("Parallel ceiling", ceilings))
    if have("cext_built"):
        if env["cext_built"]:
            omp = f"OpenMP {env.get('openmp_version')}" if env.get("openmp") else "serial build (no OpenMP)"
            facts.append(("Extensions", f"Cython {env.get('cython_version')}, {omp}"))
        else:
            facts.append(("Extensions", f"not built: {env.get('cext_error', '')}"))
    for label, key in (("Platform", "platform"), ("Processes started by", "process_start_method"),
                       ("Switch interval", "switch_interval_s"), ("Measured", "timestamp")):
        if have(key):
            value = env[key]
            facts.append((label, f"{value * 1e3:g} ms" if key == "switch_interval_s" else str(value)))
    return facts


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _asset(name: str) -> str:
    return resources.files("labsrc.report.html").joinpath("templates", name).read_text(encoding="utf-8")


def render_report(env: Mapping[str, Any], cells: Sequence[Cell], io_rows: Sequence[IoRow] = (),
                  timeline: Optional[Sequence[tuple[str, str]]] = None, source: str = "") -> str:
    """The whole page as text. `timeline` picks the Gantt charts' cells (None: the default);
    `source` names where the data came from (shown in the footer)."""
    try:
        import jinja2
    except ImportError:
        raise ReportUnavailable(f"the HTML report needs Jinja2: {INSTALL_HINT}") from None
    from labsrc import __version__
    from labsrc.report.plots import run_figures

    figures = [{"section": p.section, "caption": p.caption, "name": p.name, "src": _data_uri(svg)}
               for p, svg in run_figures(cells, io_rows, timeline, fmt="svg")]
    # The Content-Security-Policy lets only this exact text run (its SHA-256), so the script
    # is inserted exactly as hashed.
    script = "\n" + _asset("sort.js").strip() + "\n"
    loader = jinja2.PackageLoader("labsrc.report.html", "templates")
    engine = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                                trim_blocks=True, lstrip_blocks=True)
    engine.filters["shade"] = shade
    plain_io, loaded_io = split_io(io_rows)
    kernels = list(dict.fromkeys(c.kernel for c in cells if c.kernel))
    python = f"{env.get('python_implementation', 'Python')} {env.get('python_version', '')}".strip()
    run_line = [python, "GIL disabled" if env.get("gil_enabled") is False else "GIL enabled"]
    if env.get("cpu_count"):
        run_line.append(f"{env['cpu_count']} CPU{'s' if env['cpu_count'] != 1 else ''}")
    if kernels:
        run_line += [", ".join(kernels), f"{len(cells)} cells"]
    if io_rows:
        run_line.append(f"{len(io_rows)} download runs")
    if env.get("timestamp"):
        run_line.append(str(env["timestamp"]))
    return engine.get_template(TEMPLATE).render(
        findings=[f.as_dict() for f in lessons(cells, io_rows, env)],
        facts=environment(env),
        env_all=[(k, _plain(v)) for k, v in env.items()],
        python=python,
        timestamp=env.get("timestamp", ""),
        run_line=run_line,
        shaded=SHADED_FINDINGS,
        matrix=matrix_table(cells) if cells else None,
        legend=report.legend(env),  # the GIL column is scheduling latency on free-threaded runs
        omp_note=report.NOTES["num_threads"] if any(c.num_threads is not None for c in cells) else "",
        figures=figures,
        io_plain=io_table(plain_io) if plain_io else None,
        io_loaded=io_table(loaded_io) if loaded_io else None,
        style=_asset("report.css"),
        script=script,
        script_hash="sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii"),
        version=__version__,
        source=source,
    )


def write_report(path: str | Path, env: Mapping[str, Any], cells: Sequence[Cell], io_rows: Sequence[IoRow] = (),
                 timeline: Optional[Sequence[tuple[str, str]]] = None, source: str = "") -> Path:
    """Render the report and write it atomically (temporary file + rename) to `path`."""
    return report.atomic_write(path, render_report(env, cells, io_rows, timeline, source))
