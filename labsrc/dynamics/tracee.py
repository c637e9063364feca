"""The traced cell of `gil-lab trace`, run as its own process so py-spy can sample it:

    python -m labsrc.dynamics.tracee KERNEL IMPL THREADS SECONDS SWITCH_INTERVAL CHUNK_S

It calibrates one call to about CHUNK_S, prints `ready`, waits for a line on stdin (the
tracer starts sampling first), then runs THREADS threads of KERNEL/IMPL for SECONDS under
the given switch interval, recording every call's start and end and each thread's CPU time
(time.thread_time: a thread waiting for the GIL uses none), and prints one JSON object:
the threads' idents and names, the calls, the CPU times and the window (perf_counter s).

The CPU time is read once per thread, not per call: it is a system call, and a thread that
makes one while holding the GIL can be preempted right there on a busy machine, GIL held.
Per call only perf_counter is read (vDSO on Linux, no system call).
"""

from __future__ import annotations

import json
import select
import sys
import threading
import time
from typing import Any

from labsrc.dynamics.load import calibrate_scale, resolve
from labsrc.dynamics.switch import switch_interval

_GO_TIMEOUT_S = 60.0


def run(kernel_name: str, impl: str, threads: int, seconds: float, interval: float,
        chunk_s: float) -> dict[str, Any]:
    """Run the cell (after the go line) and return its record."""
    kernel, fn = resolve(kernel_name, impl)
    scale = calibrate_scale(kernel, fn, chunk_s)
    args = kernel.make_workload(max(threads, 1), scale)
    spans: dict[str, list[tuple[float, float]]] = {}
    cpu: dict[str, float] = {}
    idents: dict[str, str] = {str(threading.get_ident()): "MainThread"}
    print("ready", flush=True)
    if not select.select([sys.stdin], [], [], _GO_TIMEOUT_S)[0] or not sys.stdin.readline():
        raise SystemExit("tracee: no go signal from the tracer")

    def work(i: int, deadline: float) -> None:
        mine = spans[f"load-{i}"]
        result = None
        cpu0 = time.thread_time()
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            result = fn(*args[i])
            mine.append((t0, time.perf_counter()))
        cpu[f"load-{i}"] = time.thread_time() - cpu0
        if result is not None:
            kernel.verify(args[i], result)

    with switch_interval(interval):
        t_go = time.perf_counter()
        deadline = t_go + seconds
        pool = []
        for i in range(threads):
            spans[f"load-{i}"] = []
            thread = threading.Thread(target=work, args=(i, deadline), name=f"load-{i}")
            thread.start()
            idents[str(thread.ident)] = thread.name
            pool.append(thread)
        for thread in pool:
            thread.join()
        t_end = time.perf_counter()
    return {"kernel": kernel.name, "impl": impl, "scale": scale, "threads": idents,
            "spans": spans, "cpu": cpu, "t_go": t_go, "t_end": t_end, "switch_interval_s": interval}


def main(argv: list[str]) -> int:
    """Command-line entry (see the module doc)."""
    kernel, impl, threads, seconds, interval, chunk = argv
    record = run(kernel, impl, int(threads), float(seconds), float(interval), float(chunk))
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
