"""Layout averaging: each task call lands its frames at a different place, on the
interpreter's frame stack and on the C stack, so no executor is timed on one lucky or
unlucky layout.

Why: the speed of a pure-Python loop depends on where its frames sit relative to a 4 KiB
page (most likely 4K aliasing: the CPU takes a load for one that depends on a recent store
at the same page offset). Measured on the lab's Xeon with pure-Python mandelbrot in one
process pool worker, each frame moved 64 bytes at a time over a page:
- the interpreter's frame stack: 61-64 ms a task at 62 offsets of 64, 67 and 93 ms at two;
- the C stack (cext._stack): 59 ms at most offsets, 69-74 ms at every fourth, and which
  ones depends on where process start-up put the stack (it is randomised).
A worker's call path differs from the parent's by a frame or two, so `procs` ran mandelbrot
13 % slower than `seq` and `mp_pool` in some `gil-lab bench` runs and not in others, and a
goal missed for a reason that had nothing to do with processes. No fixed layout is fair to
every executor, so, as Mytkowicz et al. advise ("Producing Wrong Data Without Doing
Anything Obviously Wrong!", ASPLOS 2009; Stabilizer, ASPLOS 2013, randomises for the same
reason), we vary it: call k goes through trampoline k % 64, whose frame is 64 * (k % 64)
bytes larger, with the C stack 16 * (97 k % 256) bytes deeper, and every cell's time is an
average over the same layouts. Without the built extension only the frame stack moves.
What this cannot move is where heap objects land, which follows each process's allocation
history: pure-Python cells in pool workers still differ from `seq` by up to ~10% in some runs.
"""

from __future__ import annotations

import itertools
from types import FunctionType
from typing import Any, Callable, Optional

try:
    from cext._stack import call_deeper as _call_deeper
except ImportError:  # cext not built for this interpreter: the frame stack still moves
    _call_deeper: Optional[Callable[..., Any]] = None  # type: ignore[no-redef]

__all__ = ["C_SHIFTS", "C_SHIFT_BYTES", "SHIFTS", "SHIFT_BYTES", "c_stack_shifts", "call_shifted"]

#: Distinct frame offsets, SHIFT_BYTES apart: together they span one 4 KiB page.
SHIFTS = 64
#: One cache line: 8 frame slots (a slot is one pointer).
SHIFT_BYTES = 64
_SLOT_BYTES = 8
#: C stack offsets: every 16 bytes (the stack's alignment) over a page. Where the slow
#: offsets fall depends on the random start of the stack, at 16-byte granularity, so only
#: steps that fine give every process the same mix.
C_SHIFTS = 256
C_SHIFT_BYTES = 16
# Visits the C offsets in an order unrelated to the frame-stack one (97 is prime to 256, so
# C_SHIFTS consecutive calls visit every offset once, and a few calls spread over the page).
_C_STRIDE = 97


def _bare(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return fn(*args, **kwargs)


def _trampoline(pad_slots: int) -> Callable[..., Any]:
    """`_bare` with a frame `pad_slots` slots larger: the same bytecode, declaring that many
    more locals, which it never touches (a frame's size is fixed by its code object)."""
    code = _bare.__code__
    pads = tuple(f"_pad{i}" for i in range(pad_slots))
    padded = code.replace(co_varnames=code.co_varnames + pads, co_nlocals=code.co_nlocals + pad_slots)
    return FunctionType(padded, globals(), f"_bare_shifted_{pad_slots * _SLOT_BYTES}")


_TRAMPOLINES = tuple(_trampoline(i * SHIFT_BYTES // _SLOT_BYTES) for i in range(SHIFTS))
# Threads share the counter; a repeated shift (possible without a GIL) is harmless.
_calls = itertools.count()


def c_stack_shifts() -> bool:
    """Whether calls move the C stack too (cext built for this interpreter)."""
    return _call_deeper is not None


def call_shifted(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`fn(*args, **kwargs)`, its frames shifted by the next of SHIFTS offsets in turn."""
    k = next(_calls)
    trampoline = _TRAMPOLINES[k % SHIFTS]
    if _call_deeper is None:
        return trampoline(fn, args, kwargs)
    return trampoline(_call_deeper, ((k * _C_STRIDE) % C_SHIFTS * C_SHIFT_BYTES, fn, args, kwargs), {})
