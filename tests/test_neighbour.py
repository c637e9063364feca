"""The noisy neighbour of `gil-lab bench --neighbour`: it loads a core, and it never outlives the lab."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from labsrc import cli
from labsrc.tools.neighbour import PERIOD_S, Neighbour


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid`, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the neighbour's CPU time from /proc")
def test_the_neighbour_spins_its_share_and_stops_with_the_block() -> None:
    with Neighbour(0.5) as busy:
        pid = busy.pid
        assert pid is not None
        first = _cpu_seconds(pid)
        time.sleep(20 * PERIOD_S)
        used = _cpu_seconds(pid) - first
    # Half of 2 s is 1 s of CPU; it can only get less on a loaded machine, never much more.
    assert 0.2 < used < 1.5, used
    assert not _alive(pid)
    with Neighbour(1.0) as busy:
        assert busy.pid is not None and _alive(busy.pid)


def test_a_neighbour_whose_lab_went_away_stops_by_itself() -> None:
    # No `with`: the lab dies without a word; its end of the pipe closes, and that is enough.
    proc = subprocess.Popen([sys.executable, "-m", "labsrc.tools.neighbour", "0.2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"spinning\n"
    assert proc.poll() is None
    proc.stdin.close()  # type: ignore[union-attr]
    assert proc.wait(timeout=5) == 0
    proc.stdout.close()


def test_a_duty_outside_one_core_is_refused() -> None:
    for duty in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="0 < duty <= 1"):
            Neighbour(duty)
    done = subprocess.run([sys.executable, "-m", "labsrc.tools.neighbour", "2"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "0 < DUTY <= 1" in done.stderr
    for bad in ("0", "1.5", "half"):
        with pytest.raises(SystemExit) as stop:
            cli.main(["bench", "--neighbour", bad])
        assert stop.value.code == 2
