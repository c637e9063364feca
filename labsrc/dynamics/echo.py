"""The I/O side of the latency and bandwidth experiments: a UDP echo thread in the lab's
process and a pinging client in another process, both on 127.0.0.1.

The echo thread is the "server" whose responsiveness the background load disturbs: it
blocks in `recvfrom` (GIL released), must take the GIL back to build and send the answer,
and so waits as long as the interpreter makes it wait. Its socket is blocking, with no
timeout, as in CPython's Tools/ccbench: one GIL release per packet, not a poll and then a
read. It is stopped by a datagram carrying a random token, and joined with a timeout.

The client runs in a separate process (multiprocessing, `forkserver`), so its own timing
never waits for our GIL. Each ping carries (sequence number, send time); the echo appends
its own receive time; all three stamps come from time.perf_counter, CLOCK_MONOTONIC on
Linux, one clock for every process. Every ping is accounted for: answered within the reply
timeout, or lost.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any, Callable, Optional

from flags.mpcontext import process_context

HOST = "127.0.0.1"
_PING = struct.Struct("!Qd")  # sequence number, client's send time
_STAMP = struct.Struct("!d")  # appended by the echo: its receive time
_clock = time.perf_counter


class EchoError(RuntimeError):
    """The measurement could not be made: port not bindable, client died or hung."""


class EchoServer:
    """`with EchoServer() as echo: echo.address` -- answers every datagram from a thread."""

    def __init__(self, port: int = 0, join_timeout: float = 5.0) -> None:
        self.port = port
        self.join_timeout = join_timeout
        self.answered = 0
        self._token = os.urandom(16)  # its length differs from a ping's, so no mix-up
        self._sock: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self.address: tuple[str, int] = (HOST, 0)

    def start(self) -> "EchoServer":
        """Bind 127.0.0.1:port (0: any free port) and start the echo thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((HOST, self.port))
        except OSError as exc:
            sock.close()
            raise EchoError(f"cannot bind UDP {HOST}:{self.port}: {exc.strerror or exc}") from exc
        self._sock = sock
        self.address = sock.getsockname()
        self._thread = threading.Thread(target=self._serve, name="io-echo", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        recvfrom, sendto, token, stamp = self._sock.recvfrom, self._sock.sendto, self._token, _STAMP.pack
        while True:
            try:
                data, peer = recvfrom(256)
            except OSError:  # closed under us by stop() after a join timeout
                return
            now = _clock()
            if data == token:
                return
            sendto(data + stamp(now), peer)
            self.answered += 1

    def stop(self) -> None:
        """Send the stop token, join the thread (with a timeout), close the socket."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if self._thread is not None and self._thread.is_alive():
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as poke:
                    poke.sendto(self._token, self.address)
                self._thread.join(timeout=self.join_timeout)
        finally:
            sock.close()

    def __enter__(self) -> "EchoServer":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@dataclass(frozen=True)
class ClientPlan:
    """What the client does. mode "latency": one ping at a time, each `interval_s` (jittered
    by +-50%, so pings fall at every phase of the switch interval) after the previous
    answer; "bandwidth": ping-pong,
    the next ping `gap_s` after the answer arrives (time.sleep; 0: at once). Both run for
    `duration_s`."""

    mode: str
    duration_s: float
    interval_s: float = 0.01
    gap_s: float = 0.0  # bandwidth: pause between an answer and the next ping
    reply_timeout_s: float = 1.0
    seed: int = 0


@dataclass
class ClientResult:
    """The client's record; `pings` holds (send, echo receive, reply receive) times."""

    sent: int = 0
    answered: int = 0
    t_start: float = 0.0
    t_end: float = 0.0
    pings: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Pings never answered within the reply timeout."""
        return self.sent - self.answered


def _await_reply(sock: socket.socket, seq: int, timeout: float) -> Optional[tuple[float, float]]:
    """(echo receive time, our receive time) of ping `seq`, or None after `timeout`.
    A late answer to an earlier ping is read and dropped (that ping already counts as lost)."""
    deadline = _clock() + timeout
    while True:
        left = deadline - _clock()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data = sock.recv(256)
        except socket.timeout:
            return None
        now = _clock()
        if len(data) == _PING.size + _STAMP.size and _PING.unpack_from(data)[0] == seq:
            return _STAMP.unpack_from(data, _PING.size)[0], now


def run_client(address: tuple[str, int], plan: ClientPlan) -> ClientResult:
    """Ping `address` as `plan` says; returns every ping's fate."""
    result = ClientResult()
    rng = random.Random(plan.seed)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        _handshake(sock)
        result.t_start = next_send = _clock()
        end = result.t_start + plan.duration_s
        while True:
            if plan.mode == "latency":
                pause = next_send - _clock()
                if pause > 0:
                    time.sleep(pause)
            sent_at = _clock()
            if sent_at >= end:
                break
            sock.send(_PING.pack(result.sent, sent_at))
            result.sent += 1
            reply = _await_reply(sock, result.sent - 1, plan.reply_timeout_s)
            if reply is not None:
                result.answered += 1
                result.pings.append((sent_at, reply[0], reply[1]))
            # Latency: the next ping a jittered interval after this answer (not on a fixed
            # grid), so a slow answer is never followed by a ping that finds the echo
            # thread still holding the GIL it just won.
            next_send = _clock() + plan.interval_s * rng.uniform(0.5, 1.5)
            if plan.mode == "bandwidth" and plan.gap_s > 0:
                time.sleep(plan.gap_s)
        result.t_end = _clock()
    return result


def _handshake(sock: socket.socket, timeout: float = 10.0) -> None:
    """Ping until the echo answers once (it may be slow under load); not counted."""
    deadline = _clock() + timeout
    seq = 2**63  # outside the counted sequence numbers
    while _clock() < deadline:
        sock.send(_PING.pack(seq, _clock()))
        if _await_reply(sock, seq, 0.5) is not None:
            return
        seq += 1
    raise EchoError(f"the echo thread did not answer within {timeout:.0f} s")


def _client_main(address: tuple[str, int], plan: ClientPlan, conn: Connection) -> None:
    """Entry point of the client process: the result (or the error text) through `conn`."""
    try:
        conn.send(run_client(address, plan))
    except KeyboardInterrupt:  # Ctrl-C hits the whole process group; the lab reports it
        pass
    except BaseException as exc:
        conn.send(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


ClientTarget = Callable[[tuple[str, int], ClientPlan, Connection], None]


def ping(address: tuple[str, int], plan: ClientPlan, *, target: ClientTarget = _client_main,
         slack_s: float = 30.0) -> ClientResult:
    """Run the client in a fresh `forkserver` process and wait (at most the plan's length
    plus `slack_s`) for its result. EchoError if it dies, fails or overruns; the process
    is terminated on every path, Ctrl-C included."""
    ctx = process_context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(address, plan, child), name="echo-client", daemon=True)
    proc.start()
    child.close()
    try:
        budget = plan.duration_s + plan.reply_timeout_s + slack_s
        if not wait([parent, proc.sentinel], timeout=budget):
            raise EchoError(f"the client process gave no result within {budget:.0f} s")
        message: Any = None
        try:
            message = parent.recv() if parent.poll() else None
        except (EOFError, OSError):
            pass
        if isinstance(message, ClientResult):
            return message
        if isinstance(message, str):
            raise EchoError(f"the client process failed: {message}")
        proc.join(timeout=2)
        raise EchoError(f"the client process died (exit status {proc.exitcode}) without a result")
    finally:
        parent.close()
        _end(proc)


def _end(proc: Any) -> None:
    """Join the client; terminate, then kill, what does not exit by itself."""
    proc.join(timeout=2)
    if proc.is_alive():
        proc.terminate()
        proc.join(timeout=2)
    if proc.is_alive():
        proc.kill()
        proc.join(timeout=2)
