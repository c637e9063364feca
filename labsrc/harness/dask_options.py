"""The Dask side of `gil-lab cpu` / `compare`: `--scheduler` and `--dask-dashboard` checked
before anything is measured, compare's Dask section, and the `dask` block of the env.

Kept out of labsrc.cli so that the CLI needs only three calls: `prepare` (exit 2 on bad
input, including a scheduler that does not answer within CONNECT_TIMEOUT_S), `add_section`
(compare) and `env_block` (after the run).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any, Optional, Sequence

from labsrc.core.usage import UsageError
from labsrc.executors.dask.executors import CONNECT_TIMEOUT_S, SETTINGS, configure, connect, dask_available
from labsrc.harness.matrix import CellSpec, Planned
from labsrc.core.names import ExecutorName, Payload
from labsrc.core.results import Cell

DASK_EXECUTORS = (ExecutorName.DASK_THREADS, ExecutorName.DASK_PROCS)

# compare's Dask section: one kernel, the pair the Dask lesson needs (pure Python against the
# GIL-releasing C loop) and the GIL-holding C loop between them, on both cluster shapes at
# the widest worker count. Six cells, each with its own cluster (~2-3 s to start on 2 cores).
SECTION_KERNEL = "primes"
SECTION_IMPLS = ("py", "cy_gil", "cy_nogil")


def prepare(scheduler: Optional[str], dashboard: bool, executors: Sequence[str],
            section: bool = False) -> None:
    """Check the Dask options against the chosen executors (UsageError: exit 2) and point the
    Dask executors at the embedded cluster or at `scheduler`, which must answer now."""
    wanted = section or any(e in DASK_EXECUTORS for e in executors)
    if not (scheduler or dashboard):
        configure()
        return
    option = "--scheduler" if scheduler else "--dask-dashboard"
    if not wanted:
        raise UsageError(f"{option} applies to the Dask executors; add dask_threads or dask_procs "
                         "to --executor")
    ok, reason = dask_available()
    if not ok:
        raise UsageError(f"{option} needs the optional package distributed ({reason})")
    if scheduler and dashboard:
        raise UsageError("--dask-dashboard serves the embedded cluster's dashboard; a --scheduler "
                         "cluster has its own (see the `dask scheduler` output)")
    if dashboard and importlib.util.find_spec("bokeh") is None:
        raise UsageError("--dask-dashboard needs bokeh: pip install 'bokeh>=3.1'")
    if scheduler:
        _check_scheduler(scheduler)
    configure(scheduler, dashboard)


def _check_scheduler(address: str) -> None:
    """UsageError unless `address` answers as a Dask scheduler that has workers."""
    try:
        client = connect(address, CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise UsageError(f"--scheduler: {exc}") from None
    try:
        nthreads = dict(client.nthreads())
    finally:
        client.close()
    if not nthreads:
        raise UsageError(f"--scheduler: the Dask scheduler at {address} has no workers; start one "
                         f"with `dask worker {address} --nworkers N --nthreads 1`")


def add_section(planned: Sequence[Planned], workers: Sequence[int]) -> list[Planned]:
    """compare: the Dask cells (recipe payload) added to the section's implementations, so they
    share calibration, work and seq baseline with the rest of the matrix. Without
    `distributed` the cells still appear, as unavailable rows with the install hint."""
    widest = max(workers)
    out = []
    for item in planned:
        if item.kernel.name == SECTION_KERNEL and item.impl.name in SECTION_IMPLS:
            extra = tuple(spec for spec in (CellSpec(ex, widest, Payload.RECIPE) for ex in DASK_EXECUTORS)
                          if spec not in item.cells)
            item = dataclasses.replace(item, cells=item.cells + extra)
        out.append(item)
    return out


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def env_block(cells: Sequence[Cell]) -> Optional[dict[str, Any]]:
    """What the Dask cells ran on, for the env of the report (None: no Dask cell ran)."""
    if not any(c.executor in DASK_EXECUTORS for c in cells):
        return None
    ok, reason = dask_available()
    if not ok:
        return {"available": False, "reason": reason}
    import distributed

    clusters = list({tuple(sorted((k, str(v)) for k, v in c.items())): c for c in SETTINGS.clusters}.values())
    remote = SETTINGS.scheduler
    hosts = {host for c in clusters for host in c.get("hosts", ())}
    same_machine = remote is None or all(_loopback(h) for h in hosts)
    return {
        "available": True,
        "distributed_version": distributed.__version__,
        "scheduler": remote or "embedded LocalCluster per cell (127.0.0.1, tcp://)",
        "clusters": clusters,  # executor, workers, threads per worker, task threads, dashboard
        "gil_contention": "the lab's heartbeat inside each Dask worker during each timed run, "
                          "merged over the workers (their mean share of the run spent waiting "
                          "for the GIL); distributed's own GIL monitor is off in embedded clusters",
        "spans_clock": ("each worker's perf_counter (CLOCK_MONOTONIC) on this machine: spans line "
                        "up with the client's" if same_machine else
                        "each worker's own CLOCK_MONOTONIC; workers on other machines have other "
                        "clocks, so spans of different workers may not line up"),
        "spans_same_machine": same_machine,
    }
