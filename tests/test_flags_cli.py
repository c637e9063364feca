"""The flags2-compatible command line: usage errors, the summary, exit codes and Ctrl-C."""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flags.cli import CC_USAGE, expand_cc_args, main
from flags.countries import COUNTRY_CODES, EVERY_CC, POP20_CC
from flags.mpcontext import start_method
from flags.server import ServerConfig, ServerThread

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server():
    with ServerThread(ServerConfig()) as srv:
        yield srv


def test_expand_cc_args():
    assert expand_cc_args(False, False, [], None) == sorted(POP20_CC)
    assert expand_cc_args(False, False, ["b"], None) == [f"B{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    assert expand_cc_args(False, False, ["br", "CN", "br"], None) == ["BR", "CN"]
    assert expand_cc_args(False, True, [], 3) == list(COUNTRY_CODES[:3])
    assert expand_cc_args(True, False, [], None) == list(EVERY_CC)
    for bad in (["BRA"], ["1"], ["b1"], ["é"]):
        with pytest.raises(ValueError, match="A to Z or AA to ZZ"):
            expand_cc_args(False, False, bad, None)


@pytest.mark.parametrize(("argv", "message"), [
    (["BRA"], CC_USAGE),
    (["-m", "0"], "CONCURRENT must be an integer >= 1"),
    (["-l", "0"], "N must be an integer >= 1"),
    (["-s", "NOWHERE"], "must be one of LOCAL, DELAY, ERROR, REMOTE or a URL"),
    (["--timeout", "0"], "S must be a number of seconds > 0"),
    (["--retries", "-1"], "N must be an integer >= 0"),
    (["--client", "httpx"], "--client applies to --mode asyncio only"),
    (["--mode", "fibers"], "invalid choice: 'fibers'"),
    (["-m", "many"], "invalid int value"),
])
def test_usage_errors_exit_2(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "usage: flags" in err


SUMMARY = re.compile(
    r"URL site: http://127\.0\.0\.1:\d+/flags\n"
    r"Searching for 4 flags: BR, CN, XA, XB\n"
    r"3 concurrent connections will be used\.\n"
    r"-{20}\n"
    r"  2 flags downloaded\.\n"
    r"  2 not found\.\n"
    r"Elapsed time: \d+\.\d\ds\n$")


@pytest.mark.parametrize("mode", ["threadpool", "asyncio"])
def test_summary_format(server, tmp_path, capsys, mode):
    code = main(["BR", "cn", "XA", "XB", "-m", "3", "-s", server.url, "--mode", mode,
                 "--dest", str(tmp_path)])
    assert code == 0
    assert SUMMARY.match(capsys.readouterr().out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["br.gif", "cn.gif"]


def test_errors_exit_1_and_verbose_lines(tmp_path, capsys):
    with ServerThread(ServerConfig(error_rate=1.0)) as srv:
        code = main(["BR", "X", "-v", "-l", "3", "-s", srv.url + "/", "--dest", str(tmp_path),
                     "--mode", "sequential"])
    assert code == 1
    out = capsys.readouterr().out
    assert "1 connection will be used." in out
    assert (f"{platform.python_implementation()} {platform.python_version()}; process start "
            f"method: {start_method()} (used by --mode processpool).\n") in out
    assert out.count("*** Error for") == 3 and "HTTP 503" in out
    assert "  0 flags downloaded.\n  3 errors.\n" in out


def test_processpool_verbose_names_its_start_method(server, tmp_path, capsys):
    # In-process, beside the server's threads: the autouse guard fails the test on a fork.
    code = main(["BR", "XA", "-v", "-m", "2", "-s", server.url, "--mode", "processpool",
                 "--dest", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert f"; process start method: {start_method()}.\n" in out
    assert "BR ok\n" in out and "XA not found\n" in out
    assert [p.name for p in tmp_path.iterdir()] == ["br.gif"]


def test_threadpool_ac_plain_form(server, tmp_path, capsys):
    assert main(["--mode", "threadpool_ac", "-s", server.url, "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Searching for 5 flags" in out and "3 concurrent connections" in out
    assert out.count("Scheduled for") == 5


def _cli(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "flags", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_embedded_local_server(tmp_path):
    proc = _cli("BR", "XA", "-s", "local", "--dest", str(tmp_path), "--mode", "asyncio")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert re.match(r"LOCAL site: http://127\.0\.0\.1:\d+/flags\n", out)
    assert "  1 flag downloaded.\n  1 not found.\n" in out
    assert [p.name for p in tmp_path.iterdir()] == ["br.gif"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
@pytest.mark.parametrize("mode", ["threadpool", "asyncio", "processpool"])
def test_ctrl_c_exits_130_with_partial_summary(mode, tmp_path):
    proc = _cli("-e", "-m", "4", "-s", "DELAY", "--mode", mode, "--dest", str(tmp_path))
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert "concurrent connections" in lines[2], lines
        time.sleep(0.8)  # requests are in flight (each takes 0.5 s)
        children = _children(proc.pid)
        assert children  # the embedded server at least
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "not attempted (interrupted)." in out and "Elapsed time:" in out
    numbers = [int(n) for n in re.findall(r"^\s*(\d+) ", out, re.M)]
    assert sum(numbers) == len(EVERY_CC)  # downloaded + not found + errors + not attempted
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in children), children
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_all_uses_the_servers_listing(tmp_path, capsys):
    (tmp_path / "srv" / "zz").mkdir(parents=True)
    (tmp_path / "srv" / "country_codes.txt").write_text("ZZ QQ\n")
    (tmp_path / "srv" / "zz" / "zz.gif").write_bytes(b"GIF89a")
    with ServerThread(ServerConfig(directory=tmp_path / "srv")) as srv:
        code = main(["-a", "-s", srv.url, "--dest", str(tmp_path / "out"), "--mode", "sequential"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Searching for 2 flags: QQ, ZZ" in out and "  1 not found." in out
