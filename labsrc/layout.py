"""Frame-layout averaging: each task call lands its Python frames at a different place on
the interpreter's frame stack, so no executor is timed on one lucky or unlucky layout.

Why: the speed of a pure-Python loop can depend on where its frame sits relative to a
4 KiB page (the CPU's memory disambiguation confuses frame slots with objects at the same
page offset). Measured on the lab's 2-core Xeon with pure-Python mandelbrot in a process
pool worker, frames shifted 64 bytes at a time over a whole page: 61-64 ms a task at 62
of 64 offsets, 67 ms at +3584 bytes and 93 ms at +640. A pool worker's call path differs
from the parent's by a frame or two, so `procs` landed 13 % slow where `seq` and `mp_pool`
did not, and a speedup goal missed for a reason that had nothing to do with processes.
Which offsets are slow depends on the CPU and on every frame above the call, so no fixed
layout is fair to all executors. As Mytkowicz et al. advise ("Producing Wrong Data Without
Doing Anything Obviously Wrong!", ASPLOS 2009; Stabilizer, ASPLOS 2013, randomises for the
same reason), we vary the layout rather than pick one: calls go in turn through SHIFTS
trampolines whose frames are 0, 64, ..., 4032 bytes larger, and every cell's time is an
average over the same set of layouts. C kernels are unaffected (their loops use the C stack).
"""

from __future__ import annotations

import itertools
from types import FunctionType
from typing import Any, Callable

__all__ = ["SHIFTS", "SHIFT_BYTES", "call_shifted"]

#: Distinct frame offsets, SHIFT_BYTES apart: together they span one 4 KiB page.
SHIFTS = 64
#: One cache line: 8 frame slots (a slot is one pointer).
SHIFT_BYTES = 64
_SLOT_BYTES = 8


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


def call_shifted(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`fn(*args, **kwargs)`, its frames shifted by the next of SHIFTS offsets in turn."""
    return _TRAMPOLINES[next(_calls) % SHIFTS](fn, args, kwargs)
