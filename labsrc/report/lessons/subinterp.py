"""The lesson "Sub-interpreters": the `interp` rows (labsrc.executors.interp) beside the
process and thread rows of the same run.

Per kernel: `py` in N own-GIL sub-interpreters (PEP 684) next to `py` in N processes and N
threads, both pools' start-up (timed apart from the runs), and what one task shipped,
pickled, between interpreters. Then which implementations could load in a sub-interpreter
and, from the rows' reasons, why the others could not (a C extension must opt in; numpy
has not). Shown only when the run has interp rows that reached a sub-interpreter: where
the executor itself could not run (no backport, Python < 3.13), the problems lesson says so.
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

from labsrc.core.names import ExecutorName, Payload, Status
from labsrc.core.results import Cell
from labsrc.report.lessons.common import (
    NO_GAIN, PROCS, REAL_GAIN, THREADS, Finding, Run, best, count_of, kernels, measured, names, span,
    where, x,
)

INTERP = ExecutorName.INTERP
# The reason labsrc.executors.interp gives an implementation that could not be imported there.
CANNOT_LOAD = "cannot load in a sub-interpreter: "


def _interp_cells(cells: Sequence[Cell]) -> list[Cell]:
    return [c for c in cells if c.executor == INTERP]


def _load_failures(cells: Sequence[Cell]) -> dict[str, list[str]]:
    """Why -> the implementations that could not load for that reason, in run order. One
    reason per extension family: cext.primes and cext.sha256 refuse for the same cause."""
    found: dict[str, list[str]] = {}
    for cell in cells:
        if cell.status != Status.UNAVAILABLE or CANNOT_LOAD not in cell.reason:
            continue
        why = re.sub(r"\bcext\.\w+", "cext.*", cell.reason.split(CANNOT_LOAD, 1)[1])
        impls = found.setdefault(why, [])
        if cell.impl not in impls:
            impls.append(cell.impl)
    return found


def _shipped(cells: Sequence[Cell]) -> list[int]:
    return [c.ipc_bytes for c in cells if measured(c) and c.ipc_bytes]


def _kB(values: Sequence[int]) -> str:
    return span([v / 1e3 for v in values], ".1f", " kB")


def sub_interpreters(run: Run) -> Optional[Finding]:
    """py in own-GIL sub-interpreters beside processes and threads; start-up of each pool;
    what travelled; which implementations could load there and why not the others."""
    cells = list(run.cells)
    interp = _interp_cells(cells)
    loaded = [c for c in interp if measured(c)]
    refused = _load_failures(interp)
    if not loaded and not refused:
        return None
    rows: list[tuple[str, ...]] = []
    py_rows: list[tuple[str, Cell, Optional[Cell], Optional[Cell]]] = []
    for kernel in kernels(cells):
        mine = _interp_cell(cells, kernel, "py")
        if mine is None or mine.workers < 2:
            continue
        procs = next((c for c in cells if measured(c) and (c.kernel, c.impl, c.executor, c.workers)
                      == (kernel, "py", PROCS, mine.workers) and c.payload != Payload.DATA), None)
        threads = next((c for c in cells if measured(c) and (c.kernel, c.impl, c.executor, c.workers)
                        == (kernel, "py", THREADS, mine.workers)), None)
        py_rows.append((kernel, mine, procs, threads))
        rows.append((kernel, str(mine.workers), x(mine.speedup), x(procs.speedup) if procs else "-",
                     x(threads.speedup) if threads else "-", f"{mine.startup_s:.2f} s",
                     f"{procs.startup_s:.2f} s" if procs else "-",
                     f"{(mine.ipc_bytes or 0) / 1e3:.1f} kB" if mine.ipc_bytes else "-"))
    parts: list[str] = []
    if py_rows:
        parts.append(_parallel(run, py_rows))
    held = _held_gil(cells)
    if held:
        parts.append(held)
    shipped = _shipped(loaded)
    if shipped:
        parts.append(f"What travelled between interpreters was pickled, as between processes: "
                     f"{_kB(shipped)} a task (its recipe or input, its answer or digest), though all within one process")
    could = list(dict.fromkeys(c.impl for c in loaded))
    if could:
        parts.append(f"Could load there: {names(could)}")
    if refused:
        parts.append("Could not: " + "; ".join(f"{names(impls)} ({why})" for why, impls in refused.items())
                     + ". An extension loads in an own-GIL sub-interpreter only if it declares that it can "
                       "(multi-phase init with Py_mod_multiple_interpreters); numpy does not")
    columns = ("kernel", "interpreters", "py interp", "py procs", "py threads", "interp start-up",
               "procs start-up", "shipped a task")
    rule = (f"own GIL: py interp >= {REAL_GAIN}x while py threads <= {NO_GAIN}x; start-up: the pool's, "
            f"timed apart from the runs; shipped: pickled input + answer of one task")
    return Finding("subinterp", "Sub-interpreters", ". ".join(parts) + ".", columns, tuple(rows), rule)


def _interp_cell(cells: Sequence[Cell], kernel: str, impl: str) -> Optional[Cell]:
    """The widest measured interp cell of kernel/impl: the recipe payload's (as for procs),
    else the data payload's."""
    return best(cells, kernel, impl, INTERP) or best(cells, kernel, impl, INTERP, payload=Payload.DATA)


def _held_gil(cells: Sequence[Cell]) -> str:
    """'' or the sentence on C that holds its GIL (cy_gil) in sub-interpreters vs threads."""
    pairs = []
    for kernel in kernels(cells):
        mine = _interp_cell(cells, kernel, "cy_gil")
        if mine is None or mine.workers < 2:
            continue
        threads = next((c for c in cells if measured(c) and (c.kernel, c.impl, c.executor, c.workers)
                        == (kernel, "cy_gil", THREADS, mine.workers)), None)
        pairs.append((kernel, mine, threads))
    if not pairs:
        return ""
    text = (f"C that never releases the GIL (cy_gil) ran at {span([m.speedup for _, m, _ in pairs])} in "
            f"{count_of([m.workers for _, m, _ in pairs], 'sub-interpreters')} "
            f"{where([k for k, _, _ in pairs])}")
    threads = [t.speedup for _, _, t in pairs if t is not None]
    if threads:
        text += f", where its threads took turns at {span(threads)}"
    if min(m.speedup for _, m, _ in pairs) >= REAL_GAIN:  # the explanation only where it showed
        text += ": the GIL it holds is its own interpreter's"
    return text


def _parallel(run: Run, py_rows: list[tuple[str, Cell, Optional[Cell], Optional[Cell]]]) -> str:
    """The py-in-sub-interpreters sentence, with its start-up next to a process pool's."""
    ours = [m for _, m, _, _ in py_rows]
    text = (f"pure Python in {count_of([m.workers for m in ours], 'sub-interpreters')} ran at "
            f"{span([m.speedup for m in ours])} {where([k for k, _, _, _ in py_rows])}")
    procs = [p for _, _, p, _ in py_rows if p is not None]
    threads = [t for _, _, _, t in py_rows if t is not None]
    if procs:
        text += f", processes at {span([p.speedup for p in procs])}"
    if threads:
        text += f", threads at {span([t.speedup for t in threads])}"
    text += f"; the pool started in {span([m.startup_s for m in ours], '.2f', ' s')}"
    if procs:
        text += f" against {span([p.startup_s for p in procs], '.2f', ' s')} for processes (measured apart)"
    kept = [k for k, m, _, t in py_rows if t is not None and m.speedup >= REAL_GAIN and t.speedup <= NO_GAIN]
    if run.free_threaded:
        return f"On this free-threaded build (GIL disabled), {text}"
    if kept and len(kept) == len(py_rows):
        return f"Each sub-interpreter has its own GIL (PEP 684): {text}"
    return "P" + text[1:] + (f"; a GIL per interpreter paid off in {names(kept)}" if kept else "")
