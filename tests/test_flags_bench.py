"""flags.bench.measure_modes, the contract `gil-lab io` relies on (tiny sizes, no timing)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import flags.bench as bench
from flags.countries import POP20_CC

KEYS = {"mode", "workers", "flags", "ok", "not_found", "errors", "elapsed_s", "speedup",
        "req_per_s", "gil_contention", "gil_p50_late_ms", "gil_p99_late_ms"}


@dataclass
class FakeStats:
    samples: int = 10
    p50_late_s: float = 0.001
    p99_late_s: float = 0.002
    max_late_s: float = 0.003
    contention: float = 0.25


class FakeProbe:
    def __enter__(self) -> "FakeProbe":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def stats(self) -> FakeStats:
        return FakeStats()


def test_bench_codes():
    assert bench.bench_codes(20) == list(POP20_CC)
    assert len(set(bench.bench_codes(676))) == 676
    with pytest.raises(ValueError):
        bench.bench_codes(677)


def test_measure_modes_rows(monkeypatch):
    monkeypatch.setattr(bench, "_probe", FakeProbe)
    rows = bench.measure_modes(["sequential", "threadpool", "asyncio", "asyncio_httpx"], 4, 0.02,
                               max_req=3)
    assert [r["mode"] for r in rows] == ["sequential", "threadpool", "asyncio", "asyncio_httpx"]
    assert [r["workers"] for r in rows] == [1, 3, 3, 3]
    for row in rows:
        assert set(row) == KEYS
        assert row["flags"] == 4 and row["ok"] == 4 and row["not_found"] == row["errors"] == 0
        assert row["elapsed_s"] > 0 and row["speedup"] > 0 and row["req_per_s"] > 0
        assert row["gil_contention"] == 0.25 and row["gil_p50_late_ms"] == pytest.approx(1.0)
        assert row["gil_p99_late_ms"] == pytest.approx(2.0)
    assert rows[0]["speedup"] == 1.0


def test_measure_modes_with_the_real_probe():
    pytest.importorskip("labsrc.probe")
    rows = bench.measure_modes(["threadpool"], 3, 0.01)
    assert rows[0]["speedup"] is None and rows[0]["ok"] == 3
    assert 0.0 <= float(rows[0]["gil_contention"]) <= 1.0


def test_unknown_mode_fails_before_starting():
    with pytest.raises(ValueError, match="unknown mode"):
        bench.measure_modes(["fibers"], 3, 0.01)
