"""The book's two demos, rebuilt on the lab's kernels.

`demo_map`: Executor.map yields results in submission order, so a fast task that
finished early still waits behind a slow one; every line is timestamped to show it.

`demo_spinner`: a spinner animates in the main thread while a kernel runs in a worker
thread. With a kernel that releases the GIL it keeps spinning; with the GIL-holding twin
it freezes until the kernel returns. The longest stall between two spinner frames is
measured and printed, so the demo proves its point in numbers, not only on screen.
On a free-threaded build running without a GIL (3.13t) there is no GIL for cy_gil to hold:
the spinner keeps turning beside every kernel, and the demo says so instead.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional, TextIO

from labsrc.kernels.catalog import ImplUnavailable, get_kernel
from labsrc.harness.matrix import calibrate
from labsrc.tools.gilcheck import gil_disabled


def _stamp() -> str:
    return time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"


_PRINT = threading.Lock()


def _say(out: TextIO, *parts: Any) -> None:
    # One write per line under a lock: the loiter threads print concurrently.
    line = " ".join(str(p) for p in (f"[{_stamp()}]",) + parts)
    with _PRINT:
        out.write(line + "\n")
        out.flush()


def loiter(n: int, scale: float = 1.0, out: TextIO = sys.stdout) -> int:
    """Sleep n * scale seconds, announcing start and end with an indent of n tabs."""
    indent = "\t" * n
    _say(out, f"{indent}loiter({n}): sleeping {n * scale:g}s...")
    time.sleep(n * scale)
    _say(out, f"{indent}loiter({n}): done.")
    return n * 10


def demo_map(scale: float = 1.0, out: TextIO = sys.stdout) -> list[int]:
    """Executor.map over loiter(0..4) with 3 threads; results come back in order."""
    _say(out, "script starting.")
    with ThreadPoolExecutor(max_workers=3) as executor:
        results = executor.map(lambda n: loiter(n, scale, out), range(5))
        _say(out, "map returned a generator at once:", type(results).__name__)
        _say(out, "waiting for individual results:")
        collected = []
        for i, result in enumerate(results):
            _say(out, f"result {i}: {result}")
            collected.append(result)
    return collected


@dataclass(frozen=True)
class SpinnerRun:
    """What the spinner saw while one implementation ran."""

    impl: str
    work_s: float
    frames: int
    longest_stall_s: float


def spin_while(fn: Callable[[], Any], interval: float = 0.05, out: Optional[TextIO] = None) -> tuple[int, float, float]:
    """Animate a spinner in this thread while fn runs in another: (frames, longest stall, work s)."""
    done = threading.Event()
    span: list[float] = []

    failure: list[BaseException] = []

    def work() -> None:
        span.append(time.perf_counter())
        try:
            fn()
        except BaseException as exc:  # re-raised in the caller's thread below
            failure.append(exc)
        finally:
            span.append(time.perf_counter())
            done.set()  # a raising kernel must not leave the spinner turning forever

    worker = threading.Thread(target=work, name="kernel")
    frames, longest = 0, 0.0
    # Stamped before start: if the kernel takes the GIL at once, this thread's next stamp
    # comes only when it lets go, and the whole wait counts as one stall.
    last = time.perf_counter()
    worker.start()
    while not done.wait(interval):
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
        frames += 1
        if out is not None:
            out.write("\r" + "|/-\\"[frames % 4] + " thinking...")
            out.flush()
    worker.join()
    if failure:
        raise failure[0]
    longest = max(longest, span[1] - last)
    if out is not None:
        out.write("\r" + " " * 20 + "\r")
    return frames, longest, span[1] - span[0]


def demo_spinner(seconds: float = 1.5, kernel: str = "primes", out: TextIO = sys.stdout) -> list[SpinnerRun]:
    """Run the kernel's cy_nogil, cy_gil and py for ~`seconds` each under a live spinner."""
    entry = get_kernel(kernel)
    runs = []
    tty = out if out.isatty() else None
    for name in ("cy_nogil", "cy_gil", "py"):
        try:
            fn = entry.impl(name).load()
        except (ImplUnavailable, KeyError) as exc:
            print(f"{name}: skipped ({exc})", file=out)
            continue
        scale = calibrate(entry, fn, {}, 1, seconds, entry.quick_scale)
        (args,) = entry.make_workload(1, scale)
        frames, stall, work = spin_while(lambda: fn(*args), out=tty)
        runs.append(SpinnerRun(name, work, frames, stall))
        print(f"{kernel}/{name:<8} {work:5.2f} s of work: spinner drew {frames:3d} frames, "
              f"longest stall {stall:.3f} s", file=out)
    free = next((r for r in runs if r.impl == "cy_nogil"), None)
    held = next((r for r in runs if r.impl == "cy_gil"), None)
    if free and held:
        froze = held.longest_stall_s > 0.5 * held.work_s
        stalls = (f"The spinner stalled at most {free.longest_stall_s:.3f} s while cy_nogil ran, "
                  f"and {held.longest_stall_s:.3f} s while cy_gil ran")
        if gil_disabled():
            # Said as measured: a stall here was the OS keeping the spinner from a CPU, not a GIL.
            seen = ("the spinner froze all the same: a busy machine kept it from a CPU" if froze
                    else "the spinner did not freeze behind either")
            print(f"{stalls}: there is no GIL to hold in this free-threaded build (GIL disabled), "
                  f"so cy_gil's `with gil` excludes no other thread, and {seen}.", file=out)
        else:
            verdict = "froze" if froze else "did not freeze"
            print(f"{stalls}: it {verdict} behind the held GIL.", file=out)
    return runs
