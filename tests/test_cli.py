"""The `gil-lab` command, through subprocess (and in-process where a fake is needed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from labsrc import cli
from labsrc.kernels import get_kernel

PNG = b"\x89PNG\r\n\x1a\n"


def gil_lab(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labsrc", *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def _small_kernel() -> tuple[str, str]:
    """One real kernel with a GIL-holding and a GIL-free impl if built, else the no-op kernel."""
    try:
        primes = get_kernel("primes")
        if all(primes.impl(n).available()[0] for n in ("py", "cy_nogil")):
            return "primes", "py,cy_nogil"
    except KeyError:
        pass
    return "noop", "spin,hash_nogil"


def test_env_json() -> None:
    done = gil_lab("env", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    for key in ("python_version", "python_implementation", "gil_enabled", "free_threaded_build",
                "cpu_count", "cython_version", "numpy_version", "openmp"):
        assert key in info


def test_cpu_quick_writes_json_csv_and_pngs(tmp_path: Path) -> None:
    kernel, impls = _small_kernel()
    out = tmp_path / "r.json"
    done = gil_lab("cpu", "--quick", "--kernel", kernel, "--impl", impls, "--executor", "threads",
                   "--workers", "2", "--repeat", "1", "--json", str(out), "--csv", str(tmp_path / "r.csv"),
                   "--plot", str(tmp_path / "png"), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Findings:" in done.stdout and "speedup" in done.stdout
    doc = json.loads(out.read_text())
    assert doc["env"]["python_version"] and len(doc["results"]) == 4
    assert all(r["verified"] and r["status"] == "ok" for r in doc["results"])
    assert (tmp_path / "r.csv").read_text().count("\n") == 5
    pngs = list((tmp_path / "png").glob("*.png"))
    assert pngs and all(p.read_bytes().startswith(PNG) for p in pngs)


@pytest.mark.parametrize("args,needle", [
    (["--kernel", "nope"], "choose from"),
    (["--kernel", "noop", "--impl", "nope"], "choose from: noop, spin"),
    (["--kernel", "noop", "--executor", "fibers"], "choose from: seq, threads"),
    (["--kernel", "noop", "--workers", "0"], ">= 1"),
    (["--kernel", "primes", "--workers", "1,300"], "<= 256"),
    (["--kernel", "noop", "--timeline", "cy_nogil-threads"], "IMPL/EXECUTOR"),
    (["--kernel", "noop", "--workers", "two"], "argument --workers: must be a whole number"),
    (["--kernel", "noop", "--repeat", "0"], "argument --repeat: must be >= 1"),
    (["--kernel", "noop", "--target", "-1"], "argument --target: must be in (0, 3600]"),
    (["--kernel", "noop", "--target", "nan"], "argument --target: must be in (0, 3600]"),
    (["--kernel", "noop", "--payload", "bytes"], "unknown payload 'bytes'; choose from: recipe, data"),
    (["--kernel", ","], "--kernel needs at least one"),
])
def test_bad_input_exits_2(args: list[str], needle: str) -> None:
    done = gil_lab("cpu", *args)
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_wrong_answer_and_crash_exit_nonzero_with_reasons() -> None:
    done = gil_lab("cpu", "--kernel", "faults", "--impl", "wrong,crash,missing", "--executor", "procs",
                   "--workers", "2", "--scale", "1", "--repeat", "1", "--quiet")
    assert done.returncode == 1
    assert "WRONG ANSWER" in done.stdout and "died" in done.stdout
    assert "skipped" in done.stdout and "Traceback" not in done.stdout + done.stderr


def test_ctrl_c_stops_pools_and_still_writes(tmp_path: Path) -> None:
    piddir = tmp_path / "pids"
    piddir.mkdir()
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labsrc", "cpu", "--kernel", "faults", "--impl", "slow", "--executor", "procs",
         "--workers", "2", "--tasks", "2", "--scale", "1", "--repeat", "10", "--quiet", "--json", str(out)],
        env={**os.environ, "GILLAB_PIDDIR": str(piddir)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the procs cell's workers are busy
        workers = {int(p.name) for p in piddir.iterdir()} - {proc.pid}
        if workers:
            break
        time.sleep(0.02)
    assert workers, "the pool never started"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    doc = json.loads(out.read_text())
    assert [(r["executor"], r["status"]) for r in doc["results"]] == [("seq", "ok")]
    time.sleep(0.5)
    alive = []
    for pid in {int(p.name) for p in piddir.iterdir()} - {proc.pid}:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            continue
        if state != "Z":
            alive.append(pid)
    assert not alive, f"orphan workers: {alive}"


def _fake_io(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Fake the downloads (only the measuring: argument checks stay real)."""
    import labsrc.harness.iobench

    calls: list[tuple] = []

    def measure_modes(modes, count, delay, max_req=1000, watch=None):  # type: ignore[no-untyped-def]
        calls.append((tuple(modes), count, delay))
        rows = []
        for i, m in enumerate(modes):
            with watch() as watched:  # the lab's real probe (and load), around nothing
                pass
            rows.append({"mode": m, "workers": 1 if m == "sequential" else 20, "flags": count, "ok": count,
                         "not_found": 0, "errors": 0, "elapsed_s": 1.0 / (i + 1), "speedup": float(i + 1),
                         "req_per_s": count * (i + 1.0), "watch": watched})
        return rows

    monkeypatch.setattr(labsrc.harness.iobench, "measure_modes", measure_modes)
    return calls


def test_io_prints_and_writes_the_modes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_io(monkeypatch)
    rc = cli.main(["io", "--modes", "sequential,threadpool", "--count", "5", "--delay", "0.1",
                   "--json", str(tmp_path / "io.json"), "--csv", str(tmp_path / "io.csv"), "--plot", str(tmp_path)])
    assert rc == 0 and calls == [(("sequential", "threadpool"), 5, 0.1)]
    text = capsys.readouterr().out
    assert "threadpool" in text and "2.0x sequential" in text
    doc = json.loads((tmp_path / "io.json").read_text())
    assert [r["mode"] for r in doc["io"]] == ["sequential", "threadpool"]
    assert (tmp_path / "io.csv").read_text().startswith("mode,workers")
    assert (tmp_path / "io_elapsed.png").read_bytes().startswith(PNG)


def test_compare_writes_one_results_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_io(monkeypatch)
    rc = cli.main(["compare", "--kernel", "noop", "--impl", "spin", "--scale", "1", "--repeat", "1",
                   "--workers", "2", "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    contrast = cli.IO_LOAD_CONTRAST
    # The modes once, then the load contrast: without load, beside py, beside cy_nogil.
    assert calls == [(cli.IO_MODES, 20, 0.5)] + [(contrast.modes, contrast.count, contrast.delay)] * 3
    (folder,) = tmp_path.iterdir()
    names = {p.name for p in folder.iterdir()}
    assert {"results.json", "results.csv", "io.csv", "io_elapsed.png", "speedup_noop.png"} <= names
    doc = json.loads((folder / "results.json").read_text())
    loads = [r["cpu_load"] for r in doc["io"]]
    assert doc["results"] and len(doc["io"]) == 4 + 3 * len(contrast.modes)
    assert loads == [""] * 4 + [""] * 2 + ["primes/py:1"] * 2 + ["primes/cy_nogil:1"] * 2
    assert all(r["load_work_per_s"] > 0 for r in doc["io"] if r["cpu_load"])
    assert "Findings:" in capsys.readouterr().out


def test_bench_sections_are_checked_before_anything_runs() -> None:
    done = gil_lab("bench", "--only", "harness,warp")
    assert done.returncode == 2 and "unknown section 'warp'" in done.stderr and "kernels" in done.stderr
