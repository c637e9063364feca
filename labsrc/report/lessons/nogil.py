"""The lesson "Without the GIL": rows from a free-threaded build beside rows from a GIL build.

It reads the sources of one run: the host (plain impl names, `run.env`) and each `--python`
interpreter (impl@label, `run.env["interpreters"][label]`). A free-threaded source whose
GIL stayed off is compared with a GIL build, preferably of the same release (3.13.5t vs
3.13.5: like for like; anything else mixes versions, and the finding says so). Per kernel:

- the free-threading tax: one thread's work/s there over here, for `py` and for the C
  twins (the price of per-object locking and biased reference counts, paid even by
  single-threaded code);
- scaling there: `py`, `cy_gil` and `cy_nogil` threads over their own seq (`with gil`
  excludes no one where there is no GIL);
- the net: the best `py` work/s there (any executor) over `py` seq here: does a reader with
  these cores gain by switching today?
- with PYTHON_GIL=1 (`--python PATH:gil`): py threads there again, which separates what the
  build costs from what the lock costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from labsrc.core.results import Cell
from labsrc.report.lessons.common import (
    NO_GAIN, REAL_GAIN, SEQ, THREADS, Finding, Run, best, kernels, measured, span, x,
)

C_TWINS = ("cy_nogil", "cy_gil")  # the C twins whose single-thread tax is quoted
GAINS = 1.1  # the net at or above this: switching gains; at or below 1/GAINS: it loses


@dataclass(frozen=True)
class Source:
    """Where a set of rows ran: the host ("" suffix) or an interpreter ("@label")."""

    suffix: str
    block: Mapping[str, Any]

    @property
    def version(self) -> str:
        return str(self.block.get("python_version") or "?")

    @property
    def free_threaded(self) -> bool:
        return bool(self.block.get("free_threaded_build"))

    @property
    def gil_on(self) -> bool:
        return self.block.get("gil_enabled") is not False

    @property
    def cpython(self) -> bool:
        return str(self.block.get("python_implementation") or "CPython") == "CPython"

    def name(self) -> str:
        """'3.13.5t', '3.13.5t with PYTHON_GIL=1', '3.13.5'."""
        if not self.free_threaded:
            return self.version
        return f"{self.version}t" + (" with PYTHON_GIL=1" if self.gil_on else "")


def _sources(run: Run) -> list[Source]:
    found = [Source("", run.env)]
    for label, block in (run.env.get("interpreters") or {}).items():
        if isinstance(block, Mapping):
            found.append(Source(f"@{label}", block))
    return found


def pick_sources(run: Run) -> Optional[tuple[Source, Source, Optional[Source]]]:
    """(free-threaded without a GIL, the GIL build to compare with, the free-threaded build
    with PYTHON_GIL=1 or None), or None when the run lacks either of the first two. The
    GIL build of the same release wins over others; then the host."""
    sources = [s for s in _sources(run) if s.cpython]
    free = next((s for s in sources if s.free_threaded and not s.gil_on), None)
    gil_builds = [s for s in sources if not s.free_threaded]
    if free is None or not gil_builds:
        return None
    same = [s for s in gil_builds if s.version == free.version]
    reference = (same or gil_builds)[0]
    relocked = next((s for s in sources if s.free_threaded and s.gil_on and s.version == free.version), None)
    return free, reference, relocked


def _ratio(a: Optional[Cell], b: Optional[Cell]) -> float:
    """Throughput of a over b (NaN when either is missing)."""
    if a is None or b is None:
        return math.nan
    return a.throughput / b.throughput


def _fastest(cells: Sequence[Cell], kernel: str, impl: str) -> Optional[Cell]:
    found = [c for c in cells if measured(c) and (c.kernel, c.impl) == (kernel, impl)]
    return max(found, key=lambda c: c.throughput, default=None)


def without_gil(run: Run) -> Optional[Finding]:
    """Free-threaded rows beside GIL-build rows: the tax, the scaling, the net and the lock."""
    picked = pick_sources(run)
    if picked is None:
        return None
    free, ref, relocked = picked
    cells = run.cells
    rows: list[tuple[str, ...]] = []
    taxes, c_taxes, nets, py_scaling, gil_scaling, relocked_scaling = [], [], [], [], [], []
    for kernel in kernels(cells):
        py_there = best(cells, kernel, "py" + free.suffix, SEQ)
        py_here = best(cells, kernel, "py" + ref.suffix, SEQ)
        if py_there is None or py_here is None:
            continue
        tax = _ratio(py_there, py_here)
        c_tax = [_ratio(best(cells, kernel, twin + free.suffix, SEQ), best(cells, kernel, twin + ref.suffix, SEQ))
                 for twin in C_TWINS]
        c_tax = [v for v in c_tax if math.isfinite(v)]
        scaling = {impl: best(cells, kernel, impl + free.suffix, THREADS) for impl in ("py", "cy_gil", "cy_nogil")}
        fastest = _fastest(cells, kernel, "py" + free.suffix)
        net = _ratio(fastest, py_here)
        again = best(cells, kernel, "py" + relocked.suffix, THREADS) if relocked else None
        taxes.append(tax)
        c_taxes += c_tax
        nets.append(net)
        if scaling["py"] is not None:
            py_scaling.append(scaling["py"].speedup)
        if scaling["cy_gil"] is not None:
            gil_scaling.append(scaling["cy_gil"].speedup)
        if again is not None:
            relocked_scaling.append(again.speedup)
        rows.append((kernel, x(tax), span(c_tax) if c_tax else "-",
                     *(x(c.speedup) if c is not None else "-" for c in scaling.values()),
                     x(net) + (f" ({fastest.executor} x{fastest.workers})" if fastest is not None else ""),
                     x(again.speedup) if again is not None else "-"))
    if not rows:
        return None
    like = (f"{free.name()} against {ref.name()}: the same release, like for like"
            if free.version == ref.version else
            f"{free.name()} against {ref.name()}: this MIXES VERSIONS, so part of every ratio is the "
            f"release, not the GIL (build {free.version} both ways for like for like)")
    text = (f"Without the GIL ({like}). The free-threading tax: one thread of pure Python ran at "
            f"{span(taxes)} the GIL build's work/s")
    text += f", the C twins at {span(c_taxes)}" if c_taxes else ""
    if py_scaling:
        text += f". There, two threads of py scaled {span(py_scaling)}"
        text += f" and cy_gil {span(gil_scaling)} (`with gil` excludes no one without a GIL)" if gil_scaling else ""
    text += f". The net, the best py there over one py thread here: {span(nets)}"
    if all(n >= GAINS for n in nets):
        text += ": with these cores, pure Python gains by switching"
    elif all(n <= 1 / GAINS for n in nets):
        text += ": with these cores the tax outweighs the threads; pure Python loses by switching today"
    else:
        text += ": with these cores, about even"
    if relocked_scaling:
        text += (f". With PYTHON_GIL=1 the same build's py threads ran at {span(relocked_scaling)}"
                 + (": the lock, not the build, is what serialises them" if max(relocked_scaling) <= NO_GAIN
                    else ""))
    mortal = free.block.get("mortal_kernel_constants")
    if mortal:
        text += (f". Caution: there the pure kernels' constants were mortal in {len(mortal)} places "
                 f"(e.g. {mortal[-1]}): they were compiled from source, not read from a .pyc "
                 f"(PYTHONDONTWRITEBYTECODE?), so every thread counted references to the same objects, "
                 f"and py threads scaled less than this build allows")
    columns = ("kernel", "py tax", "C tax", "py threads", "cy_gil threads", "cy_nogil threads", "net py",
               "py threads PYTHON_GIL=1")
    rule = (f"tax: seq work/s there / here; threads: speedup there over its own seq; net: best py work/s "
            f"there / py seq here (gains >= {GAINS}x); PYTHON_GIL=1 threads back to <= {NO_GAIN}x: the "
            f"lock serialises; parallel: >= {REAL_GAIN}x")
    return Finding("nogil", "Without the GIL", text + ".", columns, tuple(rows), rule)
