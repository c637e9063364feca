"""gil-lab loop: the heartbeat sees a blocked loop; every flag is downloaded and counted."""

from __future__ import annotations

import json
from pathlib import Path

from labsrc.cli import main
from labsrc.dynamics.loop import LoopPlan, measure_loop


def test_inline_work_blocks_the_loop_and_downloads_complete() -> None:
    rows = []
    plan = LoopPlan(tasks=2, task_s=0.05, flags=5, server_delay_s=0.05)
    measure_loop(("none", "inline", "thread_nogil"), plan, lambda row, lags: rows.append((row, lags)))
    by_mode = {row.mode: (row, lags) for row, lags in rows}
    assert list(by_mode) == ["none", "inline", "thread_nogil"]
    for row, lags in by_mode.values():
        assert row.flags_ok == row.flags == 5
        assert row.beats == len(lags) > 0
    inline = by_mode["inline"][0]
    assert inline.tasks == 2 and inline.task_ms
    assert inline.lag_max_ms >= 0.5 * inline.task_ms  # a task in the loop stalls the heartbeat


def test_loop_command_json(tmp_path: Path) -> None:
    out = tmp_path / "loop.json"
    assert main(["loop", "--modes", "none,process", "--tasks", "1", "--task-ms", "20", "--flags", "3",
                 "--server-delay", "0.02", "--json", str(out), "--plot", str(tmp_path), "--quiet"]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["mode"] for r in rows] == ["none", "process"]
    assert {"lag_p50_ms", "lag_p99_ms", "lag_max_ms", "download_s", "flags_ok"} <= rows[0].keys()
    assert (tmp_path / "loop-lag-cdf.png").exists()
