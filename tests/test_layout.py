"""labsrc.core.layout: every task call goes through the next of SHIFTS trampolines, each with a
frame SHIFT_BYTES larger than the one before, with the C stack moved by the next of C_SHIFTS
offsets (cext._stack), and returns exactly what the call returns."""

from __future__ import annotations

import sys

import pytest

import labsrc.core.layout as layout
from labsrc.core.layout import C_SHIFT_BYTES, C_SHIFTS, SHIFT_BYTES, SHIFTS, call_shifted
from twins import import_twin


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


def test_call_deeper_calls_through_and_checks_its_shift() -> None:
    stack = import_twin("cext._stack")
    assert stack.call_deeper(0, divmod, (17, 5), {}) == (3, 2)
    assert stack.call_deeper(stack.MAX_SHIFT_BYTES, sorted, [[2, 3, 1]], {"reverse": True}) == [3, 2, 1]
    with pytest.raises(ValueError, match="nbytes must be in 0..4096"):
        stack.call_deeper(stack.MAX_SHIFT_BYTES + 1, print, (), {})
    with pytest.raises(ZeroDivisionError):
        stack.call_deeper(64, divmod, (1, 0), {})


def test_successive_calls_cover_a_page_of_c_stack_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = import_twin("cext._stack")
    assert layout.c_stack_shifts()
    shifts: list[int] = []

    def recording(nbytes: int, fn, args, kwargs):  # type: ignore[no-untyped-def]
        shifts.append(nbytes)
        return stack.call_deeper(nbytes, fn, args, kwargs)

    monkeypatch.setattr(layout, "_call_deeper", recording)
    assert [call_shifted(pow, (2, k), {}) for k in range(C_SHIFTS)] == [2**k for k in range(C_SHIFTS)]
    assert sorted(shifts) == [i * C_SHIFT_BYTES for i in range(C_SHIFTS)]
    assert C_SHIFTS * C_SHIFT_BYTES == 4096
