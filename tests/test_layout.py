"""labsrc.layout: every task call goes through the next of SHIFTS trampolines, each with a
frame SHIFT_BYTES larger than the one before, and returns exactly what the call returns."""

from __future__ import annotations

import sys

import pytest

from labsrc.layout import SHIFT_BYTES, SHIFTS, call_shifted


def test_returns_the_answer_and_passes_keywords() -> None:
    assert call_shifted(divmod, (17, 5), {}) == (3, 2)
    assert call_shifted(sorted, ([3, 1, 2],), {"reverse": True}) == [3, 2, 1]


def test_raises_what_the_call_raises() -> None:
    with pytest.raises(ZeroDivisionError):
        call_shifted(divmod, (1, 0), {})


def _caller_slots() -> int:
    return sys._getframe(1).f_code.co_nlocals


def test_successive_calls_cover_a_page_of_frame_offsets() -> None:
    slots = [call_shifted(_caller_slots, (), {}) for _ in range(2 * SHIFTS)]
    # Whatever the counter stood at, any SHIFTS consecutive calls use every trampoline once.
    assert sorted(slots[:SHIFTS]) == sorted(slots[SHIFTS:])
    extra = sorted(s - min(slots) for s in slots[:SHIFTS])
    assert extra == [i * SHIFT_BYTES // 8 for i in range(SHIFTS)]
    assert SHIFTS * SHIFT_BYTES == 4096  # together they span one page
