"""Download flags with `ProcessPoolExecutor`: each worker process has its own `httpx.Client`
(made by the pool's initializer). On I/O-bound work, processes buy nothing over threads:
each worker waits on one socket at a time, just as a thread would, and costs far more."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from collections import Counter
from concurrent import futures
from dataclasses import replace

from flags.common import (AtomicWriter, Config, Fetcher, Outcome, Run, Status, describe,
                          make_sync_client, sweep_temps)
from flags.mpcontext import process_context

DEFAULT_CONCUR_REQ = os.cpu_count() or 4
MAX_CONCUR_REQ = 61  # the Windows limit for ProcessPoolExecutor; plenty to make the point

#: The forkserver's preload for this pool's workers (see flags._preload).
PRELOAD = ("flags._preload",)

_fetcher: Fetcher | None = None  # one per worker process


def _init_worker(config: Config) -> None:
    """Pool initializer: the parent handles Ctrl-C; each worker gets its own client."""
    global _fetcher
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = replace(config, workers=1)
    _fetcher = Fetcher(config, make_sync_client(config), AtomicWriter(config.dest))


def _download(cc: str) -> Outcome:
    assert _fetcher is not None, "worker not initialised"
    return _fetcher.download_one(cc)


def _context() -> multiprocessing.context.BaseContext:
    # Never the platform's default: before Python 3.14 that is fork on Linux, and this
    # parent runs threads (tqdm's monitor, an in-process server in the tests) whose locks a
    # forked child would inherit held. The forkserver imports flags._preload once (this
    # module, httpx and the rest a worker needs), so each worker starts with them done.
    # The workers skip the caller's main script when it is a package's __main__, as under
    # `python -m flags` and the console scripts (see flags.mpcontext.run_as_module_main).
    return process_context(preload=PRELOAD)


def _stop_workers(executor: futures.ProcessPoolExecutor) -> list[int]:
    """Kill the workers now (Ctrl-C): cancel the queue, terminate, reap. Returns their pids."""
    processes = dict(getattr(executor, "_processes", None) or {})
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes.values():
        proc.terminate()
    for proc in processes.values():
        proc.join(timeout=1)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=1)
    return list(processes)


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back while the pool starts its workers, then raise it.

    A KeyboardInterrupt that lands while the pool is half-started (under the fork start
    method, inside an at-fork callback such as logging's, where it is printed as
    "Exception ignored" and lost) would let the run go on to the end.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def download_many(cc_list: list[str], run: Run) -> Counter[Status]:
    executor = futures.ProcessPoolExecutor(run.config.workers, mp_context=_context(),
                                           initializer=_init_worker, initargs=(run.config,))
    pending = sorted(cc_list)
    worker_pids: list[int] = []
    try:
        with _sigint_deferred():  # submit() starts the worker processes
            to_do = {executor.submit(_download, cc): cc for cc in pending}
        # Known now, while they live: a worker that dies mid-save leaves its temp file behind.
        worker_pids = list(getattr(executor, "_processes", None) or {})
        for future in futures.as_completed(to_do):
            try:
                outcome = future.result()
            except Exception as exc:  # e.g. BrokenProcessPool: still one outcome per code
                outcome = Outcome(to_do[future], Status.ERROR, describe(exc))
            pending.remove(outcome.cc)
            run.record(outcome)
    except Exception as exc:  # the pool broke before every code was submitted
        for cc in pending:
            run.record(Outcome(cc, Status.ERROR, describe(exc)))
        worker_pids += _stop_workers(executor)
    except BaseException:
        run.cancelled.set()
        worker_pids += _stop_workers(executor)
        raise
    else:
        executor.shutdown(wait=True)
    finally:
        # Saves that dead or killed workers had in progress; a clean run finds none.
        sweep_temps(run.config.dest, worker_pids)
    return run.counter
