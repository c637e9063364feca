"""Every downloader variant: identical files, exact accounting under faults, retries,
timeouts and atomic writes. The server runs in-process (a thread) on an ephemeral port."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from flags.common import (AtomicWriter, Cancelled, Config, MODES, Status, TEMP_SUFFIX,
                          actual_workers, run_mode)
from flags.countries import COUNTRY_NAMES, POP20_CC
from flags.gifs import flag_gif
from flags.server import FaultPlan, ServerConfig, ServerThread

# (mode, asyncio client): every variant, plus asyncio on httpx.AsyncClient.
VARIANTS = [(mode, "aiohttp") for mode in MODES] + [("asyncio", "httpx")]
IDS = [m if c == "aiohttp" else f"{m}-{c}" for m, c in VARIANTS]
CODES = sorted(POP20_CC) + ["XA", "XB", "QQ", "ZZ"]  # 4 of them unknown: 404


def download(url: str, dest: Path, mode: str, client: str = "aiohttp", codes=CODES,
             workers: int = 8, **kw):
    config = Config(base_url=url, dest=dest, workers=actual_workers(mode, workers, len(codes)),
                    client=client, **kw)
    return run_mode(mode, codes, config, progress=False, chatty=False)


def leftovers(dest: Path) -> list[str]:
    return [p.name for p in dest.iterdir() if p.name.startswith(".") or TEMP_SUFFIX in p.name]


def expected(config: ServerConfig, codes, retries: int) -> Counter[Status]:
    """What a client must count, replaying the server's per-path fault draws."""
    plan, counter = FaultPlan(config), Counter()
    for cc in codes:
        path = f"/flags/{cc.lower()}/{cc.lower()}.gif"
        for _ in range(retries + 1):
            _, fault = plan.draw(path)
            known = cc in COUNTRY_NAMES
            if fault is None or (fault == "drop" and not known):
                status = Status.OK if known else Status.NOT_FOUND
                break
            status = Status.ERROR
        counter[status] += 1
    return counter


@pytest.fixture(scope="module")
def plain_server():
    with ServerThread(ServerConfig()) as srv:
        yield srv


def test_every_mode_downloads_identical_files(plain_server, tmp_path):
    contents = {}
    for mode, client in VARIANTS:
        dest = tmp_path / f"{mode}-{client}"
        result = download(plain_server.url, dest, mode, client)
        assert result.counter == Counter({Status.OK: 20, Status.NOT_FOUND: 4})
        assert not leftovers(dest)
        contents[(mode, client)] = {p.name: p.read_bytes() for p in dest.iterdir()}
    reference = {f"{cc.lower()}.gif": flag_gif(cc) for cc in POP20_CC}
    for files in contents.values():
        assert files == reference


FAULTY = ServerConfig(error_rate=0.2, hang_rate=0.1, drop_rate=0.2, seed=42, delay=(0.0, 0.02))


@pytest.mark.parametrize(("mode", "client"), VARIANTS, ids=IDS)
def test_exact_accounting_under_every_fault(mode, client, tmp_path):
    # Seeded faults are drawn per path, so every mode must count exactly the same.
    want = expected(FAULTY, CODES, retries=0)
    assert want[Status.ERROR] >= 3 and want[Status.OK] >= 3  # the seed really mixes them
    (tmp_path / "cn.gif").write_bytes(b"precious")  # an existing file is never damaged
    with ServerThread(FAULTY) as srv:
        result = download(srv.url, tmp_path, mode, client, timeout=1.5)
        faults = srv.plan.faults
    assert result.counter == want
    assert sum(result.counter.values()) == len(CODES)
    assert faults["hang"] and faults["drop"] and faults["error"]
    assert not leftovers(tmp_path)
    saved = {p.name for p in tmp_path.iterdir()} - {"cn.gif"}
    assert len(saved) == want[Status.OK] - ((tmp_path / "cn.gif").read_bytes() != b"precious")
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert data == flag_gif(path.stem) or (path.name == "cn.gif" and data == b"precious")


@pytest.mark.parametrize(("mode", "client"), [("threadpool", "aiohttp"), ("asyncio", "aiohttp")])
def test_retries_with_backoff(mode, client, tmp_path):
    config = ServerConfig(error_rate=0.4, drop_rate=0.2, seed=3)
    with ServerThread(config) as srv:
        result = download(srv.url, tmp_path, mode, client, retries=3, backoff=0.01)
        requests = srv.plan.requests
    assert result.counter == expected(config, CODES, retries=3)
    assert max(requests.values()) > 1  # some codes were retried ...
    assert max(requests.values()) <= 4  # ... never more than 1 + retries times
    assert not leftovers(tmp_path)


@pytest.mark.parametrize("mode", ["sequential", "asyncio"])
def test_not_found_is_counted_and_never_retried(mode, plain_server, tmp_path):
    before = Counter(plain_server.plan.requests)
    result = download(plain_server.url, tmp_path, mode, codes=["XA", "BR"], retries=3)
    assert result.counter == Counter({Status.NOT_FOUND: 1, Status.OK: 1})
    assert plain_server.plan.requests["/flags/xa/xa.gif"] - before["/flags/xa/xa.gif"] == 1


@pytest.mark.parametrize(("mode", "client"), [("sequential", "aiohttp"), ("threadpool", "aiohttp"),
                                              ("asyncio", "aiohttp"), ("asyncio", "httpx")])
def test_hanging_server_costs_a_timeout_not_forever(mode, client, tmp_path, capsys):
    with ServerThread(ServerConfig(hang_rate=1.0)) as srv:
        config = Config(base_url=srv.url, dest=tmp_path, workers=2, timeout=0.2, client=client)
        result = run_mode(mode, ["BR", "CN"], config, verbose=True, progress=False)
    assert result.counter == Counter({Status.ERROR: 2})
    out = capsys.readouterr().out
    assert out.count("*** Error for") == 2 and "Timeout" in out
    assert not leftovers(tmp_path)


def test_atomic_writer(tmp_path, monkeypatch):
    writer = AtomicWriter(tmp_path)
    (tmp_path / "br.gif").write_bytes(b"old")
    writer.save(b"new", "br.gif")
    assert (tmp_path / "br.gif").read_bytes() == b"new"
    assert oct((tmp_path / "br.gif").stat().st_mode & 0o777) != oct(0o600)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        writer.save(b"partial", "br.gif")
    monkeypatch.undo()
    assert (tmp_path / "br.gif").read_bytes() == b"new"
    assert not leftovers(tmp_path)
    writer.close()
    with pytest.raises(Cancelled):
        writer.save(b"late", "cn.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["br.gif"]


def test_threadpool_ac_prints_futures(plain_server, tmp_path, capsys):
    config = Config(base_url=plain_server.url, dest=tmp_path, workers=3)
    run_mode("threadpool_ac", ["BR", "CN", "XA"], config, progress=False)
    out = capsys.readouterr().out
    assert out.count("Scheduled for") == 3 and "<Future at" in out
    assert out.count(" result: ") == 3 and "state=finished" in out


class TricklingServer:
    """A raw loopback server that promises 10,000 bytes and sends one every 50 ms: each read
    is quick, so only an overall per-request deadline stops a client from waiting minutes."""

    def __init__(self) -> None:
        import socket
        import threading

        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/flags"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        import threading

        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            worker = threading.Thread(target=self._trickle, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _trickle(self, conn) -> None:  # type: ignore[no-untyped-def]
        with conn:
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\nContent-Length: 10000\r\n\r\n")
                while not self._stop.wait(0.05):
                    conn.sendall(b"G")
            except OSError:  # the client gave up and closed: that is the point
                pass

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for thread in self._threads:
            thread.join(timeout=2)


@pytest.mark.parametrize("mode", ["sequential", "threadpool", "asyncio"])
def test_a_trickling_server_costs_one_timeout(mode, tmp_path):
    import time

    server = TricklingServer()
    try:
        config = Config(base_url=server.url, dest=tmp_path, workers=2, timeout=0.5)
        started = time.monotonic()
        result = run_mode(mode, ["BR", "CN"], config, progress=False, chatty=False)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert result.counter == Counter({Status.ERROR: 2})
    assert elapsed < 5  # without an overall deadline: 10,000 bytes x 50 ms = 500 s a flag
    assert not list(tmp_path.iterdir())  # nothing saved, no partial file
