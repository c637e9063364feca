"""The local flag server: routes, generated GIFs, faults, traversal, the embedded process."""

from __future__ import annotations

import asyncio
import io
import os
import socket

import httpx
import pytest

from flags.countries import COUNTRY_CODES, COUNTRY_NAMES, POP20_CC
from flags.embedded import EmbeddedServer
from flags.gifs import HEIGHT, WIDTH, flag_gif, flag_pixels
from flags.server import FaultPlan, ServerConfig, ServerThread, parse_delay


@pytest.fixture(scope="module")
def server():
    with ServerThread(ServerConfig()) as srv:
        yield srv


def raw_get(port: int, target: bytes) -> bytes:
    """Send the request line exactly as given (no client-side normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.split(b"\r\n", 1)[0]


def test_generated_gifs_are_valid_distinct_deterministic():
    gifs = {cc: flag_gif(cc) for cc in COUNTRY_CODES}
    assert len(set(gifs.values())) == len(gifs)
    assert flag_gif("br") == flag_gif("BR") == gifs["BR"]
    for data in gifs.values():
        assert data.startswith(b"GIF89a") and data.endswith(b";")
        assert 1000 < len(data) < 10_000
    image = pytest.importorskip("PIL.Image")
    for cc in POP20_CC:
        with image.open(io.BytesIO(gifs[cc])) as im:
            assert im.size == (WIDTH, HEIGHT)
            assert im.tobytes() == flag_pixels(cc)


def test_routes(server):
    with httpx.Client(base_url=server.url + "/", trust_env=False) as client:
        r = client.get("br/br.gif")
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
        assert r.content == flag_gif("BR")
        meta = client.get("br/metadata.json").json()
        assert meta == {"country": COUNTRY_NAMES["BR"], "code": "BR"}
        codes = client.get("country_codes.txt").text.split()
        assert codes == list(COUNTRY_CODES)
        assert client.get("xx/xx.gif").status_code == 404
        assert client.get("br/cn.gif").status_code == 404
        assert client.get("BR/BR.gif").status_code == 404
        head = client.head("br/br.gif")
        assert head.status_code == 200 and head.content == b""
        assert client.post("br/br.gif").status_code == 405
        assert client.delete("br/br.gif").status_code == 405


@pytest.mark.parametrize("target", [
    b"/flags/../flags/br/br.gif", b"/flags/br/../br/br.gif", b"/flags/%2e%2e/br/br.gif",
    b"/flags/br/..%2fbr.gif", b"/flags/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", b"/../../etc/passwd",
    b"/flags/br/%2e%2e%2f%2e%2e%2fcountry_codes.txt", b"/flags/..%5c..%5cbr.gif",
])
def test_traversal_is_404(server, target):
    assert raw_get(server.port, target) == b"HTTP/1.1 404 Not Found"


def test_directory_tree(tmp_path):
    (tmp_path / "zz").mkdir()
    (tmp_path / "zz" / "zz.gif").write_bytes(b"GIF89a-real")
    (tmp_path / "secret.txt").write_text("no")
    with ServerThread(ServerConfig(directory=tmp_path)) as srv:
        with httpx.Client(trust_env=False) as client:
            assert client.get(f"{srv.url}/zz/zz.gif").content == b"GIF89a-real"
            assert client.get(f"{srv.url}/br/br.gif").status_code == 404
            assert client.get(f"{srv.url}/country_codes.txt").text.split() == ["ZZ"]
        assert raw_get(srv.port, b"/flags/%2e%2e/secret.txt") == b"HTTP/1.1 404 Not Found"


def test_seeded_faults_are_reproducible_per_path():
    config = ServerConfig(error_rate=0.2, hang_rate=0.2, drop_rate=0.2, seed=7, delay=(0.1, 0.3))
    one, two = FaultPlan(config), FaultPlan(config)
    paths = [f"/flags/{cc.lower()}/{cc.lower()}.gif" for cc in COUNTRY_CODES]
    first = [one.draw(p) for p in paths]
    second = [two.draw(p) for p in reversed(paths)][::-1]  # arrival order does not matter
    assert first == second
    kinds = {fault for _, fault in first}
    assert kinds == {None, "error", "hang", "drop"}
    assert all(0.1 <= delay <= 0.3 for delay, _ in first)
    assert [one.draw(p) for p in paths] != first  # a retry draws again


def test_config_and_delay_validation():
    assert parse_delay("0.5") == (0.5, 0.5)
    assert parse_delay("0.1,0.9") == (0.1, 0.9)
    with pytest.raises(ValueError):
        ServerConfig(error_rate=0.6, hang_rate=0.6)
    with pytest.raises(ValueError):
        ServerConfig(delay=(1.0, 0.5))


def test_error_and_drop_faults(server):
    with ServerThread(ServerConfig(error_rate=1.0, error_status=500)) as srv:
        assert httpx.get(f"{srv.url}/br/br.gif", trust_env=False).status_code == 500
    with ServerThread(ServerConfig(drop_rate=1.0)) as srv:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{srv.url}/br/br.gif", trust_env=False)


def test_embedded_process_starts_and_stops():
    srv = EmbeddedServer(ServerConfig(delay=(0.01, 0.01)))
    with srv:
        pid = srv.pid
        assert srv.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{srv.url}/cn/cn.gif", trust_env=False).content == flag_gif("CN")
    assert srv.proc is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.slow
def test_thousand_concurrent_slow_requests():
    import aiohttp

    async def burst(url: str, n: int) -> list[int]:
        connector = aiohttp.TCPConnector(limit=n)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def one(i: int) -> int:
                cc = COUNTRY_CODES[i % len(COUNTRY_CODES)].lower()
                async with session.get(f"{url}/{cc}/{cc}.gif") as resp:
                    await resp.read()
                    return resp.status
            return await asyncio.gather(*(one(i) for i in range(n)))

    from flags.common import raise_nofile_limit
    raise_nofile_limit()
    with EmbeddedServer(ServerConfig(delay=(0.3, 0.3))) as srv:
        statuses = asyncio.run(burst(srv.url, 1000))
    assert statuses == [200] * 1000
