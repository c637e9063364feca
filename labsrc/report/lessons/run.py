"""Lessons about the run itself and the Dask executors: the machine-load warning (first),
Dask's threads vs processes, and the problems (failed, skipped, noisy cells; last)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from labsrc.core.ceiling import LOW_CEILING, beat_the_ceiling, label, too_low, workers_of
from labsrc.report.lessons.common import NO_GAIN, REAL_GAIN, Finding, Run, best, kernels, span, x
from labsrc.core.names import Status
from labsrc.core.results import SPREAD_LIMIT, Cell

BUSY_CPUS = 0.3  # CPUs busy with other work at the start worth a warning
BUSY_LOAD = 0.5  # the 1-minute load average worth a warning (older runs without the sample)
DASK_THREADS, DASK_PROCS = "dask_threads", "dask_procs"  # executor names of the Dask cells
LISTED = 5  # failed cells named in the sentence (the table lists them all)
FAR_BELOW = 0.9  # a ceiling below this share of its worker count is worth saying first


def ceiling_warning(env: Mapping[str, Any], cells: Iterable[Cell] = ()) -> str:
    """'' or, when the machine's ceiling (env["ceiling"]) is below LOW_CEILING for some
    worker count, the sentence that goes at the top of the output and the report ('' too
    when a cell beat the ceiling: then it is the ceiling that read low)."""
    if beat_the_ceiling(cells) is not None:
        return ""
    ceilings = env.get("ceiling") or {}
    low = too_low(ceilings)
    if not low:
        return ""
    figures = ", ".join(f"{ceilings[n]['median']:.2f}x from {label(n)}" for n in low)
    return (f"This run cannot teach parallel speedups: in its own rounds a plain C loop got only {figures} "
            f"(the machine's ceiling; below {LOW_CEILING}x the host gave the lab about one core). The rows "
            "are kept, but their parallel figures say more about the host than about the GIL.")


def _ceiling_sentence(env: Mapping[str, Any]) -> str:
    """'' or what a ceiling far below the worker count means for every other row."""
    ceilings = env.get("ceiling") or {}
    far = [(n, s) for n, s in ceilings.items() if s.get("rounds") and s["median"] < FAR_BELOW * workers_of(n)]
    if not far:
        return ""
    figures = "; ".join(f"{s['median']:.2f}x from {label(n)} ({s['min']:.2f}-{s['max']:.2f}x over "
                        f"{s['rounds']} rounds)" for n, s in far)
    return (f"In the same rounds as the cells, a plain C loop got {figures}: that is what this machine "
            "gave at the time, so read every parallel speedup against it (the table's vs ceil column), "
            "not against the worker count.")


def machine_load(run: Run) -> Optional[Finding]:
    """Say so, first, when the machine's ceiling was far below the worker count (or too low
    to teach parallel speedups at all), then when other work kept CPUs busy as the run started.

    Uses the short sample `busy_cpus_at_start` where the env has one (the load average
    also remembers the minute before, including the lab's own previous run).
    """
    if not run.cells:
        return None
    beaten = beat_the_ceiling(run.cells)
    if beaten is not None:
        first = (f"The machine's ceiling read low in this run: {beaten.label} reached {beaten.speedup:.2f}x, "
                 f"{beaten.of_ceiling:.0%} of the {beaten.ceiling:.2f}x a plain C loop got in the same rounds, "
                 "which no code can beat; read speedups against the worker count, and a vs ceil above 100% "
                 "as the ceiling's error.")
    else:
        first = ceiling_warning(run.env) or _ceiling_sentence(run.env)
    found = _busy_machine(run)
    if not first:
        return found
    if found is None:
        return Finding("load", "Machine load", first, rule=f"ceiling below {FAR_BELOW:.0%} of the workers",
                       kind="warning")
    return Finding("load", "Machine load", f"{first} {found.text}", rule=found.rule, kind="warning")


def _busy_machine(run: Run) -> Optional[Finding]:
    """Other work keeping CPUs busy as the run started (or, in older runs, the load average)."""
    cpus = run.env.get("cpu_count")
    busy = run.env.get("busy_cpus_at_start")
    if cpus and isinstance(busy, (int, float)):
        if busy < BUSY_CPUS:
            return None
        total = run.env.get("cpu_count_os") or cpus  # busy_cpus counts every CPU of the machine
        text = (f"As the run started, other programs kept {busy:.1f} of {total} CPU(s) busy: "
                "parallel speedups here may be understated.")
        return Finding("load", "Machine load", text, rule=f"warned at >= {BUSY_CPUS} busy CPUs", kind="warning")
    load = run.env.get("load_average")
    if not load or not cpus or load[0] < BUSY_LOAD:
        return None
    text = (f"Before the run the 1-minute load average was {load[0]:.1f} on {cpus} CPU(s): other programs "
            "competed for the cores, so parallel speedups here are lower bounds.")
    return Finding("load", "Machine load", text, rule=f"warned at a load average >= {BUSY_LOAD}", kind="warning")


def dask(run: Run) -> Optional[Finding]:
    """cy_nogil vs py on dask_threads (and py on dask_procs when measured); the advice
    "threads per worker for GIL-releasing code, more worker processes for pure Python"
    only where dask_threads shows py <= NO_GAIN and cy_nogil >= REAL_GAIN."""
    found = []
    for kernel in kernels(run.cells):
        py, free = best(run.cells, kernel, "py", DASK_THREADS), best(run.cells, kernel, "cy_nogil", DASK_THREADS)
        procs = best(run.cells, kernel, "py", DASK_PROCS)
        if (py is not None and free is not None) or procs is not None:
            found.append((kernel, py, free, procs))
    if not found:
        return None
    pairs = [(k, p, f) for k, p, f, _ in found if p is not None and f is not None]
    parts = []
    if pairs:
        parts.append(f"on {DASK_THREADS}, cy_nogil reached {span([f.speedup for _, _, f in pairs])} and py "
                     f"{span([p.speedup for _, p, _ in pairs])}")
    in_procs = [c for _, _, _, c in found if c is not None]
    if in_procs:
        parts.append(f"on {DASK_PROCS}, py reached {span([c.speedup for c in in_procs])}")
    text = "Dask: " + "; ".join(parts)
    if pairs and all(p.speedup <= NO_GAIN and f.speedup >= REAL_GAIN for _, p, f in pairs):
        text += (": choose threads per worker for GIL-releasing code and more worker processes "
                 "for pure Python")
    rows = tuple((k, x(p.speedup) if p else "-", x(f.speedup) if f else "-", x(c.speedup) if c else "-")
                 for k, p, f, c in found)
    return Finding("dask", "Dask: threads or processes per worker", text + ".",
                   ("kernel", f"py {DASK_THREADS}", f"cy_nogil {DASK_THREADS}", f"py {DASK_PROCS}"), rows,
                   f"advice given when on {DASK_THREADS} py <= {NO_GAIN}x and cy_nogil >= {REAL_GAIN}x")


def problems(run: Run) -> Optional[Finding]:
    """Failed, skipped, unavailable and noisy cells, so no reader mistakes a gap for a result."""
    cells = run.cells
    parts = []
    rows = []
    failed = [c for c in cells if c.status == Status.FAILED]
    if failed:
        listed = "; ".join(f"{c.kernel}/{c.impl}/{c.executor}: {c.reason}" for c in failed[:LISTED])
        more = f" and {len(failed) - LISTED} more" if len(failed) > LISTED else ""
        parts.append(f"{len(failed)} cell(s) FAILED: {listed}{more}")
        rows += [(c.label, "FAILED", c.reason) for c in failed]
    skipped = [c for c in cells if c.status == Status.SKIPPED]
    if skipped:
        parts.append("not measured because not built here: "
                     + "; ".join(f"{c.kernel}/{c.impl} ({c.reason})" for c in skipped))
        rows += [(f"{c.kernel}/{c.impl}", "skipped", c.reason) for c in skipped]
    missing = list(dict.fromkeys((str(c.executor), c.reason) for c in cells if c.status == Status.UNAVAILABLE))
    if missing:
        parts.append("unavailable here: " + "; ".join(f"{ex} ({why})" if why else ex for ex, why in missing))
        rows += [(ex, "unavailable", why) for ex, why in missing]
    ok = [c for c in cells if c.status == Status.OK]
    noisy = [c for c in ok if c.noisy]
    if noisy:
        parts.append(f"{len(noisy)} of {len(ok)} cells varied more than {SPREAD_LIMIT}x between repeats "
                     "(marked !): treat their speedups as rough")
    if not parts:
        return None
    text = "; ".join(parts)
    return Finding("problems", "Problems", text[0].upper() + text[1:] + ".",
                   ("cell", "status", "reason") if rows else (), tuple(rows),
                   f"noisy: max/min wall over the repeats > {SPREAD_LIMIT}", kind="problem")

