"""The Dask executors: the same matrix on a `dask.distributed` cluster.

- `dask_threads`: one Dask worker process with N threads
  (`LocalCluster(n_workers=1, threads_per_worker=N, processes=True)`),
- `dask_procs`: N Dask worker processes with one thread each.

A Dask worker is a thread pool inside a process, so the GIL question follows the work onto
the cluster: threads per worker for GIL-releasing code, worker processes for pure Python.

By default every cell starts its own embedded `LocalCluster` on 127.0.0.1 (protocol tcp://,
which an in-process cluster bound to loopback needs; workers under nannies in separate
processes, the scheduler in a thread of this process; dashboard off, or on a free loopback
port with `configure(dashboard=True)`). Its start-up (scheduler, workers, their set-up) is
timed apart, like a pool's, and every path closes it: `close()`, `abort()` (a failed cell,
Ctrl-C), and, should closing time out, the worker pids the set-up reported are killed.
With `configure(scheduler="tcp://HOST:PORT")` a cell connects a `Client` to that cluster
instead, takes the worker count from it (a mismatch with the requested one, or with the
executor's shape, goes into `note`, which the cell shows as its reason), and never closes
the cluster, only its client.

Tasks travel as process tasks do (labsrc.executors.dask.worker.run_task around
labsrc.core.worker.call_recipe / call_data): the recipe (kernel, implementation, scale, task
index) by default, the input itself under the data payload; the client's Checker verifies
every answer or digest. Spans come from the workers' monotonic clocks (the same clock as
ours when the workers run on this machine).

GIL contention: the cell's figure comes from the lab's heartbeat running *inside each
worker* for exactly each timed run (`gil_probe()` starts and stops it through
`Client.run`); the beats of all workers are merged, so the figure is the workers' mean
share of the run spent waiting for the GIL. distributed's own monitor (gilknocker, sampled
every 500 ms by the worker's event loop) is turned off in embedded clusters so that only
one prober knocks; see labsrc.executors.dask.worker.distributed_gil_samples to read it when on.

A worker lost during a run (its process died, the nanny restarted it, a remote worker
left) fails the cell with the reason, whether or not Dask managed to retry its tasks
elsewhere: a run that includes the loss is not a measurement.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional
from urllib.parse import urlsplit

from labsrc.executors.dask.probes import WorkerKnocker, WorkerProbe
from labsrc.executors.dask.worker import prebuild, run_task, setup
from labsrc.executors.base import Executor, ExecutorUnavailable, RunOutput, Work, WorkerCrashed, remote_output
from labsrc.core.names import ExecutorName, Payload
from labsrc.core.probe import GilProbe, harness_probe
from labsrc.core.worker import TaskRef

INSTALL_HINT = "unavailable: pip install 'gil-lab[dask]'"
CONNECT_TIMEOUT_S = 3.0  # a scheduler that does not answer within this is reported, not awaited
CELL_CONNECT_TIMEOUT_S = 10.0
START_TIMEOUT_S = 60.0  # an embedded cluster's workers, imports included, on a loaded machine
CLOSE_TIMEOUT_S = 20.0
RESTART_WAIT_S = 15.0  # a nanny restarting a lost worker, before its cluster is closed
POLL_S = 0.5  # how often a waiting run looks for lost workers (a local check, no round trip)


@dataclass
class DaskSettings:
    """Where Dask cells run (set once per command by the CLI) and what they ran on."""

    scheduler: Optional[str] = None  # tcp://HOST:PORT of an existing cluster; None: embedded
    dashboard: bool = False  # embedded clusters: serve the dashboard on a free loopback port
    clusters: list[dict[str, Any]] = field(default_factory=list)  # one entry per cell started


SETTINGS = DaskSettings()

# An embedded cluster idles beside the other cells of its implementation (timed round by
# round). Idle, its 20 ms tick, 10 ms profiler (stack walks under the GIL) and 0.1 s memory
# monitor took 3% of a core and 2.5-3% of a GIL-free 2-thread cell's speed; so set, 1.4%
# and no measurable cost. A --scheduler cluster keeps its own configuration.
QUIET_CLUSTER = {
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
}


def configure(scheduler: Optional[str] = None, dashboard: bool = False) -> None:
    """Choose where the Dask cells of this process run (and forget earlier clusters)."""
    SETTINGS.scheduler, SETTINGS.dashboard = scheduler, dashboard
    SETTINGS.clusters.clear()


def dask_available() -> tuple[bool, str]:
    """(True, '') when `distributed` can be imported, else (False, the install hint)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False, INSTALL_HINT
    return True, ""


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """A `distributed.Client` on the scheduler at `address`; OSError naming the address and
    the timeout when it does not answer as a Dask scheduler within `timeout` seconds."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # refused, timed out, or something else listening there
        raise OSError(f"the Dask scheduler at {address} did not answer within {timeout:g} s "
                      f"({type(exc).__name__}: {exc})") from None


class DaskExecutor(Executor):
    """A Dask cluster for one cell (embedded, or a Client on an existing one)."""

    in_process = False
    min_task_s = 0.2  # ~2 ms of scheduler round trip a task here: 0.2 s keeps it near 1%
    one_worker: ClassVar[bool]  # dask_threads: one worker with N threads

    def __init__(self, workers: int, payload: Payload = Payload.RECIPE, *,
                 scheduler: Optional[str] = None, dashboard: Optional[bool] = None,
                 gil_monitor: bool = False) -> None:
        super().__init__(workers, payload)
        self.scheduler = scheduler if scheduler is not None else SETTINGS.scheduler
        self.dashboard = SETTINGS.dashboard if dashboard is None else dashboard
        self.gil_monitor = gil_monitor  # distributed's own gilknocker monitor in embedded workers
        self.dashboard_link: Optional[str] = None
        self._cluster: Any = None
        self._client: Any = None
        self._pids: dict[str, int] = {}  # worker address -> pid, from their set-up
        self._watched: list[str] = []  # worker addresses whose removal events we receive
        self._quieted = False  # this cell holds one count of _QUIET
        self._lost: list[str] = []  # filled by the scheduler's remove-worker events
        self._built: Optional[tuple[str, int, int]] = None
        self._tag = uuid.uuid4().hex[:8]
        self._runs = itertools.count()

    def shape(self) -> tuple[int, int]:
        """(worker processes, threads per worker) of an embedded cluster for `workers`."""
        return (1, self.workers) if self.one_worker else (self.workers, 1)

    def _start(self, ref: TaskRef) -> None:
        ok, reason = dask_available()
        if not ok:
            raise ExecutorUnavailable(reason)
        if self.scheduler:
            # The CLI checked within CONNECT_TIMEOUT_S that it answers; a cell allows a busy
            # scheduler more, and inherits this as its client's timeout for closing.
            self._client = connect(self.scheduler, CELL_CONNECT_TIMEOUT_S)
        else:
            self._client = self._embedded_client()
        nthreads: dict[str, int] = dict(self._client.nthreads())
        if not nthreads:
            raise WorkerCrashed(f"the Dask cluster at {self.scheduler} has no workers")
        # The scheduler logs a worker's removal on that worker's topic (with the tasks it
        # was running): watching those costs nothing until one goes.
        self._watched = list(nthreads)
        for address in self._watched:
            self._client.subscribe_topic(address, lambda event, at=address: self._on_event(at, event))
        if self.scheduler:
            self._adopt(nthreads)
        try:
            self._pids = dict(self._client.run(setup, ref))
        except ImportError as exc:
            raise WorkerCrashed(f"the Dask workers cannot import the lab ({exc}); install gil-lab "
                                "in the workers' environment") from None
        SETTINGS.clusters.append(self.describe(nthreads))

    def _embedded_client(self) -> Any:
        import dask
        from distributed import Client, LocalCluster

        procs, threads = self.shape()
        _quiet_logs(+1)
        self._quieted = True
        # distributed's GIL monitor knocks every 1 ms in every worker; with the lab's heartbeat
        # beating there too, two probers would perturb what they measure: keep only ours.
        quiet = {**QUIET_CLUSTER, "distributed.admin.system-monitor.gil.enabled": self.gil_monitor}
        with dask.config.set(quiet):
            self._cluster = LocalCluster(
                n_workers=procs, threads_per_worker=threads, processes=True,
                host="127.0.0.1", protocol="tcp://",
                # The scheduler always serves HTTP (health, metrics); on a free loopback port,
                # never the default 8787 on every interface. The dashboard itself only if asked.
                dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": self.dashboard},
                worker_dashboard_address=None,
                # The cell reports failures (a task's exception, a lost worker) as its reason;
                # the workers' own ERROR lines (with tracebacks) would only bury the table.
                silence_logs=logging.CRITICAL,
            )
        client = Client(self._cluster, set_as_default=False, timeout=START_TIMEOUT_S)
        client.wait_for_workers(procs, timeout=START_TIMEOUT_S)
        if self.dashboard:
            self.dashboard_link = client.dashboard_link
            print(f"gil-lab: Dask dashboard of {self.name} x{self.workers}: {self.dashboard_link}",
                  file=sys.stderr)
        return client

    def _adopt(self, nthreads: dict[str, int]) -> None:
        """Take the remote cluster's size as this cell's; say where it differs from the ask."""
        total = sum(nthreads.values())
        shape = _shape_text(nthreads)
        notes = []
        if total != self.workers:
            notes.append(f"--workers {self.workers}, but the cluster at {self.scheduler} has {shape} "
                         f"= {total} task thread(s): measured as it is")
        if self.one_worker and len(nthreads) != 1:
            notes.append(f"{self.name} expects one worker with N threads; the cluster has {shape}")
        if not self.one_worker and set(nthreads.values()) != {1}:
            notes.append(f"{self.name} expects one thread per worker; the cluster has {shape}")
        self.workers, self.note = total, "; ".join(notes)

    def describe(self, nthreads: dict[str, int]) -> dict[str, Any]:
        """This cell's cluster, for the env block of the report."""
        return {"executor": str(self.name), "scheduler": self.scheduler or "embedded LocalCluster",
                "workers": len(nthreads), "threads": sorted(set(nthreads.values())),
                "task_threads": sum(nthreads.values()), "dashboard": self.dashboard_link,
                "hosts": sorted({urlsplit(address).hostname or address for address in nthreads})}

    def _on_event(self, address: str, event: tuple[float, dict[str, Any]]) -> None:
        # Runs on the client's event loop thread; a list append is safe to read from ours.
        _, msg = event
        if isinstance(msg, dict) and msg.get("action") == "remove-worker":
            busy = len(msg.get("processing-tasks") or ())
            self._lost.append(f"{address} ({busy} task(s) in progress)")

    def _check_alive(self) -> None:
        """WorkerCrashed when a worker left the cluster since start-up, or the scheduler is gone."""
        if self._lost:
            raise WorkerCrashed(
                f"Dask worker(s) {', '.join(self._lost)} left the cluster during the cell (its "
                "process died or was closed); Dask retries lost tasks on other workers, but a "
                "run that includes the loss is not a measurement")
        if self._client.status not in ("running", "connecting"):
            raise WorkerCrashed(f"lost the connection to the Dask scheduler ({self._client.status})")

    def gil_probe(self) -> GilProbe:
        return WorkerProbe(self._client) if self._client is not None else harness_probe()

    def knocker_probe(self) -> Any:
        return WorkerKnocker(self._client)

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        from distributed import wait
        from distributed.scheduler import KilledWorker

        client = self._client
        assert client is not None, "open() first"
        recipe = self.payload == Payload.RECIPE
        if recipe and self._built != (ref.kernel, work.scale, len(work.args)):
            # Normally during the warm-up run: every worker gets every input once.
            client.run(prebuild, ref.kernel, work.scale, len(work.args))
            self._built = (ref.kernel, work.scale, len(work.args))
        run = next(self._runs)
        futures = [client.submit(run_task, ref, work.scale, i, None if recipe else args,
                                 key=f"lab-{ref.kernel}-{ref.impl}-{self._tag}-{run}-{i}")
                   for i, args in enumerate(work.args)]
        try:
            with client.as_current():  # distributed.wait asks for the default client
                while True:
                    try:
                        wait(futures, timeout=POLL_S)
                        break
                    except TimeoutError:
                        self._check_alive()
            results = client.gather(futures)
        except KilledWorker as exc:
            raise WorkerCrashed(f"Dask gave up on a task whose workers kept dying ({exc})") from None
        finally:
            unfinished = [f for f in futures if not f.done()]
            if unfinished:  # a failed or interrupted run: the scheduler forgets the rest
                client.cancel(unfinished)
        self._check_alive()
        return remote_output(results)

    def _stop(self, abort: bool) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if cluster is not None and self._lost and client is not None and client.status == "running":
            # A nanny restarts a worker whose process died; closing the cluster while the new
            # process is still starting makes it die noisily (a traceback on our stderr). Let
            # the restart finish first (our futures were cancelled: it gets no task).
            try:
                client.wait_for_workers(len(self._watched), timeout=RESTART_WAIT_S)
            except Exception:  # it did not come back in time: close anyway
                pass
        if client is not None and client.status == "running":
            for address in self._watched:  # before the workers go: no events to a closed client
                client.unsubscribe_topic(address)
        for closing in (client, cluster):  # never the cluster of a --scheduler cell: not ours
            if closing is None:
                continue
            try:
                closing.close(timeout=CLOSE_TIMEOUT_S)
            except Exception as exc:  # keep going: the processes must go in any case
                print(f"gil-lab: closing the Dask {type(closing).__name__} failed: {exc}", file=sys.stderr)
        if cluster is not None:
            _kill_leftovers(self._pids.values())
        if self._quieted:
            self._quieted = False
            _quiet_logs(-1)


# distributed's own silencing (LocalCluster(silence_logs=...)) restores the log handlers'
# level when *a* cluster closes, though another may still be open (compare opens two per
# implementation): their closing chatter would then land in the table. One count for all.
_QUIET: list[Any] = [0, None]  # open embedded clusters, the ExitStack holding the silence


def _quiet_logs(step: int) -> None:
    from distributed.utils import silence_logging_cmgr

    if step > 0 and _QUIET[0] == 0:
        _QUIET[1] = contextlib.ExitStack()
        _QUIET[1].enter_context(silence_logging_cmgr(logging.CRITICAL))
    _QUIET[0] += step
    if _QUIET[0] == 0 and _QUIET[1] is not None:
        _QUIET[1].close()
        _QUIET[1] = None


def _kill_leftovers(pids: Any) -> None:
    """SIGKILL embedded workers that outlived their cluster's close (one that timed out).

    Only our own children are touched (psutil comes with distributed), so a pid the system
    has already given to another process is left alone."""
    import psutil

    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.ppid() == os.getpid() and proc.status() != psutil.STATUS_ZOMBIE:
                proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass  # gone, as it should be


def _shape_text(nthreads: dict[str, int]) -> str:
    counts = sorted(set(nthreads.values()))
    per = "/".join(map(str, counts))
    return f"{len(nthreads)} worker(s) x {per} thread(s)"


class DaskThreadsExecutor(DaskExecutor):
    """One Dask worker process with `workers` threads."""

    name = ExecutorName.DASK_THREADS
    one_worker = True


class DaskProcsExecutor(DaskExecutor):
    """`workers` Dask worker processes with one thread each."""

    name = ExecutorName.DASK_PROCS
    one_worker = False
