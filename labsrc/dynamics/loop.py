"""`gil-lab loop`: "never block the event loop", measured.

One asyncio loop runs a 1 ms heartbeat (how late each `asyncio.sleep(0.001)` wakes is the
loop's lag) and downloads flags concurrently from the embedded flag server (a separate
process, so the server never competes for our GIL), while the same CPU work runs:

    none          no CPU work (the baseline)
    inline        called right in a coroutine: the loop is blocked for each whole task
                  (it yields between tasks, as a well-meaning coroutine would)
    thread_gil    asyncio.to_thread with a GIL-holding implementation (py by default)
    thread_nogil  asyncio.to_thread with cy_nogil (the C loop releases the GIL)
    process       loop.run_in_executor with a one-process pool (forkserver), py

Every task's result is verified after the window, never inside it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from flags.mpcontext import process_context
from labsrc.dynamics.load import calibrate_scale, call_seconds, resolve
from labsrc.dynamics.rows import LoopRow
from labsrc.kernels.catalog import Kernel, TaskArgs

MODES = ("none", "inline", "thread_gil", "thread_nogil", "process")
HEARTBEAT_S = 0.001
_clock = time.perf_counter


@dataclass(frozen=True)
class LoopPlan:
    """The experiment's sizes: `tasks` CPU tasks of about `task_s` each, `flags` downloads
    against a server that answers each after `server_delay_s`."""

    kernel: str = "primes"
    gil_impl: str = "py"
    tasks: int = 4
    task_s: float = 0.1
    flags: int = 20
    server_delay_s: float = 0.2
    request_timeout_s: float = 30.0


@dataclass(frozen=True)
class Work:
    """One mode's calibrated CPU work."""

    impl: str
    fn: Callable[..., Any]
    kernel: Kernel
    workload: list[TaskArgs]
    task_s: float


def impl_of(mode: str, plan: LoopPlan) -> Optional[str]:
    """The implementation a mode runs (None for the baseline)."""
    return {"none": None, "thread_nogil": "cy_nogil", "process": "py"}.get(mode, plan.gil_impl)


def prepare(mode: str, plan: LoopPlan) -> Optional[Work]:
    """Resolve and calibrate a mode's work before its window opens."""
    impl = impl_of(mode, plan)
    if impl is None:
        return None
    kernel, fn = resolve(plan.kernel, impl)
    scale = calibrate_scale(kernel, fn, plan.task_s)
    task_s = call_seconds(kernel, fn, scale, tries=1)
    return Work(impl, fn, kernel, kernel.make_workload(plan.tasks, scale), task_s)


async def _heartbeat(done: asyncio.Event, lags: list[float]) -> None:
    while not done.is_set():
        t0 = _clock()
        await asyncio.sleep(HEARTBEAT_S)
        lags.append(max(0.0, _clock() - t0 - HEARTBEAT_S))


async def _cpu(mode: str, work: Work, pool: Optional[ProcessPoolExecutor]) -> tuple[list[Any], float]:
    """Run the work the mode's way; (results, seconds from first start to last end)."""
    loop = asyncio.get_running_loop()
    results: list[Any] = []
    t0 = _clock()
    for args in work.workload:
        if mode == "inline":
            results.append(work.fn(*args))  # blocks the loop: the point of this mode
            # Yield between tasks through a timer, not sleep(0): the overdue heartbeat then
            # runs before the next task, so each stall measured is one task, not several.
            await asyncio.sleep(HEARTBEAT_S)
        elif mode == "process":
            results.append(await loop.run_in_executor(pool, work.fn, *args))
        else:
            results.append(await asyncio.to_thread(work.fn, *args))
    return results, _clock() - t0


async def _download(session: Any, base_url: str, codes: Sequence[str], timeout: float) -> tuple[int, float]:
    """Fetch every flag concurrently; (how many came back 200 with a body, seconds)."""
    import aiohttp

    async def one(cc: str) -> bool:
        url = f"{base_url}/{cc.lower()}/{cc.lower()}.gif"
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            return resp.status == 200 and len(await resp.read()) > 0

    t0 = _clock()
    outcomes = await asyncio.gather(*(one(cc) for cc in codes), return_exceptions=True)
    return sum(o is True for o in outcomes), _clock() - t0


async def _run_mode(mode: str, work: Optional[Work], plan: LoopPlan, base_url: str,
                    codes: Sequence[str], pool: Optional[ProcessPoolExecutor]) -> tuple[LoopRow, list[float]]:
    import aiohttp

    lags: list[float] = []
    done = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        beat = asyncio.create_task(_heartbeat(done, lags))
        await asyncio.sleep(0.05)  # the heartbeat's own start-up is not part of the window
        lags.clear()
        fetch = asyncio.create_task(_download(session, base_url, codes, plan.request_timeout_s))
        results: list[Any] = []
        cpu_s: Optional[float] = None
        try:
            if work is not None:
                results, cpu_s = await _cpu(mode, work, pool)
            ok, download_s = await asyncio.wait_for(fetch, plan.request_timeout_s + 5)
        finally:
            done.set()
            fetch.cancel()
            await asyncio.gather(beat, fetch, return_exceptions=True)
    if work is not None:
        for args, result in zip(work.workload, results):
            work.kernel.verify(args, result)
    ms = np.asarray(lags) * 1e3 if lags else np.zeros(1)
    row = LoopRow(mode=mode, impl=work.impl if work else None, tasks=len(results),
                  task_ms=work.task_s * 1e3 if work else None, beats=len(lags),
                  lag_p50_ms=float(np.percentile(ms, 50)), lag_p99_ms=float(np.percentile(ms, 99)),
                  lag_max_ms=float(ms.max()), cpu_s=cpu_s, flags=len(codes), flags_ok=ok,
                  download_s=download_s)
    return row, lags


def _ignore_sigint() -> None:
    """Pool worker: Ctrl-C is the parent's to handle (it shuts the pool down), not a traceback here."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def measure_loop(modes: Sequence[str], plan: LoopPlan,
                 on_row: Callable[[LoopRow, list[float]], None]) -> None:
    """Measure each mode in order against one embedded flag server; `on_row(row, lags)`
    as each finishes (so an interruption keeps the modes already measured)."""
    from flags.countries import COUNTRY_CODES, POP20_CC
    from flags.embedded import EmbeddedServer
    from flags.server import ServerConfig

    codes = (list(POP20_CC) + [c for c in COUNTRY_CODES if c not in POP20_CC])[:plan.flags]
    works = {mode: prepare(mode, plan) for mode in modes}  # calibrate before any server runs
    pool: Optional[ProcessPoolExecutor] = None
    delay = (plan.server_delay_s, plan.server_delay_s)
    with EmbeddedServer(ServerConfig(delay=delay)) as server:
        try:
            if "process" in modes:
                pool = ProcessPoolExecutor(1, mp_context=process_context(),
                                           initializer=_ignore_sigint)
                pool.submit(abs, 0).result(timeout=60)  # start the worker outside the window
            for mode in modes:
                on_row(*asyncio.run(_run_mode(mode, works[mode], plan, server.url, codes, pool)))
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


COLUMNS = ("mode", "impl", "tasks", "task_ms", "lag_p50_ms", "lag_p99_ms", "lag_max_ms",
           "cpu_s", "flags_ok", "download_s")
