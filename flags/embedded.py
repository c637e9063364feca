"""Run the local flag server in its own process for the length of a download.

Its own process, so that the server never competes with the measured client for the GIL.
It listens on a free loopback port and prints its URL; it also exits when its stdin closes,
so even a client killed with SIGKILL leaves no server behind.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
from types import TracebackType

from flags.server import ServerConfig

REMOTE_URL = "https://www.fluentpython.com/data/flags"  # the book's site (needs internet)

#: The embedded servers behind the -s labels.
LABELS: dict[str, ServerConfig] = {
    "LOCAL": ServerConfig(),
    "DELAY": ServerConfig(delay=(0.5, 0.5)),
    "ERROR": ServerConfig(delay=(0.5, 0.5), error_rate=0.25),
}

_URL_LINE = re.compile(rb"Serving flags on (http://\S+)")


def server_argv(config: ServerConfig, host: str = "127.0.0.1") -> list[str]:
    """The `python -m flags.server` command line for a config, on an ephemeral port."""
    lo, hi = config.delay
    argv = [sys.executable, "-m", "flags.server", "--bind", host, "--port", "0",
            "--delay", f"{lo!r},{hi!r}", "--error-rate", repr(config.error_rate),
            "--error-status", str(config.error_status), "--hang-rate", repr(config.hang_rate),
            "--drop-rate", repr(config.drop_rate), "--exit-with-stdin"]
    if config.seed is not None:
        argv += ["--seed", str(config.seed)]
    if config.directory is not None:
        argv += ["--directory", os.fspath(config.directory)]
    return argv


class EmbeddedServer:
    """`with EmbeddedServer(LABELS["DELAY"]) as srv: ... srv.url`"""

    def __init__(self, config: ServerConfig, *, startup_timeout: float = 60.0) -> None:
        self.config = config
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> str:
        # A session of its own: a Ctrl-C in the terminal reaches the client, which then
        # stops the server in order (instead of the server dying under running requests).
        self.proc = subprocess.Popen(server_argv(self.config), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, start_new_session=True)
        try:
            self.url = self._read_url()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _read_url(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        buffer = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                match = _URL_LINE.search(buffer)
                if match and buffer.endswith(b"\n"):
                    return match.group(1).decode()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"flag server did not start within {self.startup_timeout}s")
                if sel.select(timeout=min(left, 0.5)):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    if not chunk:
                        code = self.proc.wait()
                        raise RuntimeError(f"flag server exited with status {code} at start-up")
                    buffer += chunk

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()  # the server's signal to shut down
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(timeout=2)
        except BaseException:  # a second Ctrl-C or a stuck server: no mercy, no orphan
            proc.kill()
            proc.wait()
            raise
        finally:
            if proc.stdout:
                proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def __enter__(self) -> "EmbeddedServer":
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
