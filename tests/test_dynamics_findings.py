"""Findings come from the rows' numbers, with explanations only past their thresholds."""

from __future__ import annotations

from pathlib import Path

from labsrc.dynamics import plots
from labsrc.dynamics.findings import bandwidth_findings, latency_findings, trace_findings
from labsrc.dynamics.rows import BandwidthRow, LatencyRow, TraceRow


def _lat(impl: str, threads: int, p50: float, interval: float = 0.005, call_ms: float = 2.0,
         work: float = 100.0) -> LatencyRow:
    return LatencyRow("primes", impl, threads, interval, 1, call_ms if threads else None, 50, 50, 0,
                      p50, p50 * 1.5, p50 * 2, p50 * 2.5, p50 / 2, work if threads else None, 1.0)


def test_latency_sentences_follow_the_numbers(tmp_path: Path) -> None:
    rows = [_lat("none", 0, 0.13), _lat("py", 1, 5.2), _lat("cy_nogil", 1, 0.12),
            _lat("cy_gil", 1, 30.0, call_ms=50.0),
            _lat("none", 0, 0.1, 0.02), _lat("py", 1, 20.3, 0.02, work=110.0)]
    text = latency_findings(rows)
    assert any("0.13 ms to 5.20 ms" in s and "about one switch interval (5.00 ms)" in s for s in text)
    assert any("cy_nogil" in s and "did not wait" in s for s in text)
    assert any("cy_gil" in s and "calls of 50.0 ms" in s for s in text)
    assert any("5 ms -> 5.20 ms, 20 ms -> 20.3 ms" in s and "+10%" in s for s in text)
    assert len(plots.latency_plot(rows, tmp_path)) == 2
    assert plots.tradeoff_plot(rows, tmp_path)[0].name == "switch-interval-tradeoff.png"


def test_no_explanation_without_the_numbers() -> None:
    text = latency_findings([_lat("none", 0, 1.0), _lat("py", 1, 4.0)])  # 4x: neither threshold
    assert text == ["1 py thread (primes) moved the echo thread's median response from 1.00 ms "
                    "to 4.00 ms (4.0x)."]


def test_bandwidth_and_trace_sentences() -> None:
    rows = [BandwidthRow("primes", "none", 0, 0.005, None, None, 6000, 0, 6000.0, 100.0, None, 1.0),
            BandwidthRow("primes", "py", 1, 0.005, 1, 4.0, 200, 0, 200.0, 200 / 60, 100.0, 1.0)]
    assert "convoy" in bandwidth_findings(rows)[0]
    trace = [TraceRow("primes", "py", "load-0", 480, 0.48, 60, 0.5),
             TraceRow("primes", "py", "load-1", 470, 0.47, 59, 0.49),
             TraceRow("primes", "cy_nogil", "load-0", 2, 0.002, 0, 0.97),
             TraceRow("primes", "cy_nogil", "load-1", 1, 0.001, 0, 0.95)]
    py, nogil = trace_findings(trace)
    assert "0.50, 0.49 of a core" in py and "one at a time (119 hand-overs seen at least)" in py
    assert "side by side" in nogil


def test_loop_sentences(tmp_path: Path) -> None:
    from labsrc.dynamics.findings import loop_findings
    from labsrc.dynamics.rows import LoopRow

    rows = [LoopRow("none", None, 0, None, 200, 0.1, 0.5, 1.0, None, 20, 20, 0.21),
            LoopRow("inline", "py", 4, 100.0, 30, 0.1, 99.0, 104.0, 0.4, 20, 20, 0.31),
            LoopRow("thread_gil", "py", 4, 100.0, 80, 5.2, 9.0, 12.0, 0.4, 20, 20, 0.25),
            LoopRow("thread_nogil", "cy_nogil", 4, 100.0, 300, 0.1, 0.6, 2.0, 0.4, 20, 20, 0.21)]
    none, inline, gil, nogil = loop_findings(rows, 0.005)
    assert "20/20 flags in 0.21 s" in none
    assert "each 100 ms task blocked the whole loop" in inline
    assert "about one switch interval (5.00 ms)" in gil
    assert "no worse than with no CPU work" in nogil
    lags = {r.mode: [0.0001, 0.001, 0.1] for r in rows}
    assert plots.loop_cdf(rows, lags, tmp_path)[0].name == "loop-lag-cdf.png"
