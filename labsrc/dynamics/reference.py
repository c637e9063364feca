"""An independent, ccbench-style latency measurement, to check the lab's echo experiment.

As in CPython's Tools/ccbench latency test, and sharing none of labsrc.dynamics.echo: a
plain `python -c` client process sends its perf_counter time every `interval` over UDP;
this process's *main thread* receives on a blocking socket and records receive minus
send time (one way), while one plain thread runs the kernel in a loop. A watchdog timer
sends the end marker itself if the client never does, so the receive loop cannot hang.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import threading
import time

from labsrc.dynamics.load import calibrate_scale, resolve

_CLIENT = """
import socket, sys, time
port, count, interval = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for _ in range(count):
        time.sleep(interval)
        s.sendto(repr(time.perf_counter()).encode(), ("127.0.0.1", port))
    s.sendto(b"END", ("127.0.0.1", port))
"""


def one_way_ms(kernel: str, impl: str, seconds: float = 2.0, interval: float = 0.01,
               chunk_s: float = 0.002) -> float:
    """Median one-way latency (ms) to the main thread with one `impl` thread running
    (`impl` "none": no load)."""
    stop = threading.Event()
    worker = None
    if impl != "none":
        k, fn = resolve(kernel, impl)
        args = k.make_workload(1, calibrate_scale(k, fn, chunk_s))[0]

        def spin() -> None:
            while not stop.is_set():
                fn(*args)

        worker = threading.Thread(target=spin, daemon=True)
        worker.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    client = subprocess.Popen([sys.executable, "-c", _CLIENT, str(port), str(int(seconds / interval)), repr(interval)])

    def end() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as poke:
            poke.sendto(b"END", ("127.0.0.1", port))

    watchdog = threading.Timer(seconds + 30, end)
    watchdog.daemon = True
    watchdog.start()
    delays = []
    try:
        while True:
            data = sock.recv(64)  # blocking, as in ccbench: one GIL release per datagram
            now = time.perf_counter()
            if data == b"END":
                break
            delays.append(now - float(data))
    finally:
        watchdog.cancel()
        stop.set()
        sock.close()
        try:
            client.wait(timeout=5)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
        if worker is not None:
            worker.join(timeout=10)
    if not delays:
        raise RuntimeError("the reference client sent nothing")
    return statistics.median(delays) * 1e3
