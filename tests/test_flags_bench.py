"""flags.bench.measure_modes, the contract `gil-lab io` relies on (tiny sizes, no timing),
and what the processpool's workers pay before their first request on that path (issue 17)."""

from __future__ import annotations

import importlib
import json
import multiprocessing
import multiprocessing.context
import ssl
import subprocess
import sys

import httpx
import pytest

import flags._preload
import flags.bench as bench
from flags import common, mpcontext, processpool
from flags.common import Config
from flags.countries import POP20_CC
from flags.mpcontext import start_method

KEYS = {"mode", "workers", "flags", "ok", "not_found", "errors", "elapsed_s", "speedup",
        "req_per_s", "watch"}


class Watch:
    """A stand-in for the lab's probe: counts how often it wrapped a mode's run."""

    entered = 0

    def __enter__(self) -> "Watch":
        Watch.entered += 1
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_bench_codes():
    assert bench.bench_codes(20) == list(POP20_CC)
    assert len(set(bench.bench_codes(676))) == 676
    with pytest.raises(ValueError):
        bench.bench_codes(677)


def test_measure_modes_rows():
    Watch.entered = 0
    rows = bench.measure_modes(["sequential", "threadpool", "asyncio", "asyncio_httpx"], 4, 0.02,
                               max_req=3, watch=Watch)
    assert Watch.entered == 4
    assert [r["mode"] for r in rows] == ["sequential", "threadpool", "asyncio", "asyncio_httpx"]
    assert [r["workers"] for r in rows] == [1, 3, 3, 3]
    for row in rows:
        assert set(row) == KEYS
        assert row["flags"] == 4 and row["ok"] == 4 and row["not_found"] == row["errors"] == 0
        assert row["elapsed_s"] > 0 and row["speedup"] > 0 and row["req_per_s"] > 0
        assert isinstance(row["watch"], Watch)
    assert rows[0]["speedup"] == 1.0


def test_unknown_mode_fails_before_starting():
    with pytest.raises(ValueError, match="unknown mode"):
        bench.measure_modes(["fibers"], 3, 0.01)


def test_the_lab_probes_each_mode():
    from labsrc.harness.iobench import IO_FIELDS, measure_io

    rows = measure_io(["threadpool"], 3, 0.01)
    assert rows[0].ok == 3 and rows[0].mode == "threadpool"
    assert 0.0 <= rows[0].gil_contention <= 1.0 and rows[0].gil_p99_late_ms >= 0
    assert list(rows[0].as_dict()) == list(IO_FIELDS)


def test_flags_imports_nothing_from_the_lab():
    """flags/ stands alone, like the book's scripts: importing every module of it (the CLI,
    the server, the bench) must not pull in any labsrc module."""
    import subprocess
    import sys

    code = ("import sys, pkgutil, importlib, flags\n"
            "for m in pkgutil.iter_modules(flags.__path__):\n"
            "    if m.name != '__main__':\n"
            "        importlib.import_module('flags.' + m.name)\n"
            "print(sorted(n for n in sys.modules if n == 'labsrc' or n.startswith('labsrc.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# A console script like pip's wrapper (`from pkg.cli import console_main; sys.exit(...)`),
# as `gil-lab io` has it: slow to import (the lab's CLI pulls in its whole command set; here
# CPU is burnt at import in its place) and noting every process that runs it. It enters
# through flags.cli.console_main, the `flags` console script's entry, with the CLI's main()
# swapped for the processpool bench. multiprocessing re-runs a main script without a spec in
# every worker it starts, so each of N workers would pay that import before its first
# request (16 workers x ~0.4 s of CPU on 2 cores: ~3 s, about what the 16 requests take
# one after another); console_main declares the script to be `python -m flags`, whose
# main module no worker re-runs.
CONSOLE_SCRIPT = '''
import json
import os
import sys
import time

with open(sys.argv[1], "a") as marker:
    marker.write(f"{os.getpid()}\\n")
started = time.process_time()
while time.process_time() - started < 0.4:  # CPU, like imports: workers share the cores
    pass

from flags import cli
from flags.bench import measure_modes


def bench() -> int:
    rows = measure_modes(["processpool"], int(sys.argv[2]), float(sys.argv[3]))
    print(json.dumps({k: v for k, v in rows[0].items() if k != "watch"}))
    return 0


if __name__ == "__main__":
    cli.main = bench  # the entry point as installed, running the bench instead of the CLI
    sys.exit(cli.console_main())
'''


@pytest.mark.slow
def test_processpool_overlaps_its_waits_when_the_callers_main_is_slow(tmp_path):
    """Issue 17 item 4: under `gil-lab io` processpool took sequential's time, because each
    worker re-ran the lab's console script before its first request. The workers must not
    run the console script at all, and N requests of D seconds over N workers must overlap:
    the mode's wall time well under the serial N*D (generous: a third, against ~1/N)."""
    n, delay = 16, 0.5
    script, marker = tmp_path / "console_script", tmp_path / "ran_main.txt"
    script.write_text(CONSOLE_SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(marker), str(n), str(delay)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[-1])
    ran_main = marker.read_text().split()
    assert row["ok"] == n and row["workers"] == n
    assert len(ran_main) == 1, f"{len(ran_main) - 1} workers re-ran the console script"
    assert row["elapsed_s"] < n * delay / 3, (
        f"processpool took {row['elapsed_s']:.2f} s for {n} requests of {delay} s over {n} "
        f"workers (serial: {n * delay:.1f} s): its waits did not overlap")


def test_sync_clients_share_one_verifying_ssl_context(monkeypatch, tmp_path):
    # A processpool worker makes its own client; building a context loads the CA bundle,
    # so it is built once per process (and, in the forkserver, once for every worker).
    made: list[bool] = []
    real = httpx.create_ssl_context

    def counting(**kw: bool) -> ssl.SSLContext:
        made.append(kw["trust_env"])
        return real(**kw)

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    common.shared_ssl_context.cache_clear()
    try:
        for trust_env in (False, False, True, False, True):
            config = Config(base_url="https://example.invalid/flags", dest=tmp_path,
                            trust_env=trust_env)
            common.make_sync_client(config).close()
    finally:
        common.shared_ssl_context.cache_clear()  # drop the counted ones
    assert made == [False, True]
    ctx = common.shared_ssl_context(False)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_the_forkserver_preload_never_raises(monkeypatch):
    # The forkserver dies of a preload that raises anything but ImportError (and every
    # pool with it): a context it cannot build is left to the workers.
    def broken(trust_env: bool) -> ssl.SSLContext:
        raise ssl.SSLError("no CA bundle")

    monkeypatch.setattr(common, "shared_ssl_context", broken)
    importlib.reload(flags._preload)  # what the forkserver does, without an error escaping


def test_processpool_workers_start_from_a_preloaded_forkserver(monkeypatch):
    monkeypatch.setattr(mpcontext, "_preload", [])
    calls: list[list[str]] = []
    monkeypatch.setattr(multiprocessing.context.BaseContext, "set_forkserver_preload",
                        lambda self, names: calls.append(list(names)))
    ctx = processpool._context()
    assert ctx.get_start_method() == start_method()
    if start_method() == "forkserver":
        assert calls == [["flags._preload"]]
