"""flags.bench.measure_modes, the contract `gil-lab io` relies on (tiny sizes, no timing)."""

from __future__ import annotations

import pytest

import flags.bench as bench
from flags.countries import POP20_CC

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


# The caller's main script, as `gil-lab io` has it: an entry point that is slow to import
# (the lab's CLI pulls in its whole command set). multiprocessing re-runs the parent's
# __main__ in every worker it starts unless told otherwise, so each of N workers would pay
# that import before its first request (20 workers x ~0.5 s of CPU on 2 cores: ~5 s, about
# what the 20 requests take one after another). The script notes every process that runs
# it, and burns CPU at import in place of the lab's imports.
SLOW_MAIN = '''
import json
import os
import sys
import time

with open(sys.argv[1], "a") as marker:
    marker.write(f"{os.getpid()}\\n")
started = time.process_time()
while time.process_time() - started < 0.4:  # CPU, like imports: workers share the cores
    pass

from flags.bench import measure_modes

if __name__ == "__main__":
    rows = measure_modes(["processpool"], int(sys.argv[2]), float(sys.argv[3]))
    print(json.dumps({k: v for k, v in rows[0].items() if k != "watch"}))
'''


@pytest.mark.slow
def test_processpool_overlaps_its_waits_when_the_callers_main_is_slow(tmp_path):
    """Issue 17 item 4: under `gil-lab io` processpool took sequential's time, because each
    worker re-ran the lab's CLI script before its first request. The workers must not run
    the caller's main at all, and N requests of D seconds over N workers must overlap: the
    mode's wall time well under the serial N*D (generous: a third, against an ideal ~1/N)."""
    import json
    import subprocess
    import sys

    n, delay = 12, 0.5
    script, marker = tmp_path / "slow_main.py", tmp_path / "ran_main.txt"
    script.write_text(SLOW_MAIN)
    out = subprocess.run([sys.executable, str(script), str(marker), str(n), str(delay)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[-1])
    ran_main = marker.read_text().split()
    assert row["ok"] == n and row["workers"] == n
    assert len(ran_main) == 1, f"{len(ran_main) - 1} workers re-ran the caller's main script"
    assert row["elapsed_s"] < n * delay / 3, (
        f"processpool took {row['elapsed_s']:.2f} s for {n} requests of {delay} s over {n} "
        f"workers (serial: {n * delay:.1f} s): its waits did not overlap")
