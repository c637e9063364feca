"""What runs inside a Dask worker for the dask_threads / dask_procs executors.

The client sends these functions by reference (module and name), so a worker imports this
module, labsrc.core.worker and the catalog, never `distributed` through us:

- `setup(ref)`: once per worker at cell start-up (through `Client.run`, which runs it on the
  worker's event loop, the main thread): ignore Ctrl-C as pool workers do, pin the
  allocator, resolve the task function and measure the heartbeat's timer floor, so none of
  it lands in a timed run;
- `prebuild(kernel, scale, tasks)`: build every recipe input in every worker (during the
  warm-up), since Dask may send task i to another worker in the next run;
- `run_task(...)`: one task, as a process pool's worker runs it (labsrc.core.worker.call_recipe
  or call_data), but with the span named by the thread (a dask_threads worker runs N tasks
  at once in one process) and the CPU seconds of that thread only (RUSAGE_SELF would count
  the other task threads and the worker's event loop too);
- `probe_start` / `probe_stop`, `knock_start` / `knock_stop`: the lab's GIL heartbeat (and
  gilknocker) inside the worker, for exactly one timed run.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
from typing import Any, Optional

from labsrc.core.allocator import pin_allocator
from labsrc.kernels.catalog import TaskArgs
from labsrc.core.probe import HEARTBEAT_S, GilProbe, KnockerProbe, harness_probe, timer_floor
from labsrc.core.worker import RemoteResult, TaskRef, call_data, call_recipe, function, task_input


# Linux has a per-thread usage; elsewhere fall back to the process's (then a dask_threads
# worker's CPU figure counts its other threads too).
_RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)

_PROBES: dict[str, GilProbe] = {}
_KNOCKERS: dict[str, KnockerProbe] = {}


def setup(ref: TaskRef) -> int:
    """Prepare this worker for tasks of `ref`; returns its pid."""
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C in a terminal reaches the whole process group: the lab closes the cluster;
        # a worker dying of KeyboardInterrupt first would only make the nanny restart it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    pin_allocator()
    function(ref)
    timer_floor(HEARTBEAT_S)
    return os.getpid()


def prebuild(kernel: str, scale: int, tasks: int) -> int:
    """Build (and keep) the inputs of tasks 0..tasks-1 at `scale`; returns how many."""
    for index in range(tasks):
        task_input(kernel, scale, index)
    return tasks


def _thread_cpu_s() -> float:
    usage = resource.getrusage(_RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def run_task(ref: TaskRef, scale: int, index: int, args: Optional[TaskArgs]) -> RemoteResult:
    """Task `index`: from its recipe when `args` is None (answer digested when large), else
    from the shipped input (whole answer back)."""
    cpu0 = _thread_cpu_s()
    done = call_recipe(ref, scale, index) if args is None else call_data(ref, args)
    return done._replace(worker=threading.get_native_id(), cpu_s=_thread_cpu_s() - cpu0)


def probe_start(token: str) -> None:
    """Start a heartbeat under `token` (stopping any a broken-off run left beating)."""
    for old in list(_PROBES):
        _PROBES.pop(old).stop()
    _PROBES[token] = harness_probe().start()


def probe_stop(token: str) -> tuple[list[float], float, float]:
    """Stop the heartbeat of `token`: (lateness of every beat, its lifetime, its timer floor)."""
    probe = _PROBES.pop(token)
    probe.stop()
    # GilProbe keeps its raw lateness in `_late` (an array of doubles): shipped as is, so
    # the client can merge the workers' beats as labsrc.core.probe.combined_stats merges runs.
    return list(probe._late), probe.lifetime, probe.floor


def knock_start(token: str) -> None:
    """Start gilknocker's metric under `token` (for --gilknocker)."""
    for old in list(_KNOCKERS):
        _KNOCKERS.pop(old).__exit__(None, None, None)
    _KNOCKERS[token] = KnockerProbe().__enter__()


def knock_stop(token: str) -> Optional[float]:
    """Stop the gilknocker of `token`: its contention metric (0..1)."""
    knocker = _KNOCKERS.pop(token)
    knocker.__exit__(None, None, None)
    return knocker.contention


def distributed_gil_samples(dask_worker: Any) -> list[tuple[float, float]]:
    """distributed's own GIL monitor in this worker: its (wall-clock time, contention 0..1)
    samples so far, oldest first. gilknocker measures; the worker's SystemMonitor reads and
    resets it on the event loop every 500 ms, so a GIL-holding call starves the sampling and
    its whole wait arrives as one late sample. Empty when the monitor is off.
    `dask_worker` is filled in by Client.run."""
    quantities = dask_worker.monitor.quantities
    return list(zip(quantities.get("time", ()), quantities.get("gil_contention", ())))
