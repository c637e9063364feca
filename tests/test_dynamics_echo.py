"""The echo thread and its client process: every ping is accounted for, faults are clear."""

from __future__ import annotations

import os
import socket
from multiprocessing.connection import Connection

import pytest

from labsrc.dynamics.echo import ClientPlan, EchoError, EchoServer, ping


def _die(address: tuple[str, int], plan: ClientPlan, conn: Connection) -> None:
    os._exit(3)  # a client that dies without a word


def test_latency_pings_are_all_answered_and_timestamped_in_order() -> None:
    with EchoServer() as echo:
        result = ping(echo.address, ClientPlan("latency", 0.3, interval_s=0.005))
    assert result.sent > 10
    assert result.sent == result.answered + result.lost and result.lost == 0
    assert len(result.pings) == result.answered
    for sent, echoed, back in result.pings:  # one clock for both processes
        assert sent <= echoed <= back
    assert result.t_start <= result.pings[0][0] and result.pings[-1][2] <= result.t_end


def test_bandwidth_counts_every_round_trip() -> None:
    with EchoServer() as echo:
        result = ping(echo.address, ClientPlan("bandwidth", 0.2))
        answered_by_echo = echo.answered
    assert result.answered > 100 and result.lost == 0
    assert answered_by_echo >= result.answered  # plus the uncounted handshake


def test_a_dead_client_is_an_error_not_a_hang() -> None:
    with EchoServer() as echo:
        with pytest.raises(EchoError, match="died"):
            ping(echo.address, ClientPlan("latency", 0.2), target=_die)


def test_an_unbindable_port_is_an_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(EchoError, match="cannot bind"):
            EchoServer(port=taken.getsockname()[1]).start()


def test_the_echo_thread_stops() -> None:
    echo = EchoServer().start()
    thread = echo._thread
    echo.stop()
    assert thread is not None and not thread.is_alive()
