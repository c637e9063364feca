"""Are the pure kernels' constants one object every thread counts references to?

On CPython 3.13's free-threaded build a function's constants (the `4.0` of
`zr2 + zi2 > 4.0`) are made immortal when their code object is loaded from a `.pyc` file,
so threads running the same function never write to them. A module compiled from source by
`compile()` (what importlib does when there is no usable `.pyc`: PYTHONDONTWRITEBYTECODE=1,
a read-only checkout, the first import after an edit) keeps them as ordinary objects: every
LOAD_CONST then updates a reference count shared by all threads, and two threads fight over
its cache line. Measured on 3.13.5t, py mandelbrot threads x2: 1.88-1.96x with a `.pyc`,
0.96-1.63x without (the constants are 0.0, 2.0 and 4.0 of `_escape_count`).

The lab reports which kernel functions carry such constants (`env_info`'s
`mortal_kernel_constants`), runs other free-threaded interpreters from compiled bytecode
(`labsrc.interpreters.lab`), and the "Without the GIL" lesson warns when a run had them.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import sysconfig
from types import CodeType
from typing import Any, Iterable, Iterator, Optional

# The pure twins: what the threads share when they run pure Python.
PURE_KERNEL_MODULES = (
    "labsrc.kernels.primes",
    "labsrc.kernels.arcfour",
    "labsrc.kernels.sha256",
    "labsrc.kernels.mandelbrot",
)

# No ordinary object reaches a billion references; immortal ones read 2**32 - 1 on 3.13
# and 3 * 2**30 on 3.14's default build.
_IMMORTAL_FLOOR = 2**30


def is_immortal(obj: Any) -> bool:
    """True when CPython never counts references to `obj` (3.14 says so; 3.13 shows it as a
    huge reference count)."""
    probe = getattr(sys, "_is_immortal", None)
    if probe is not None:
        return bool(probe(obj))
    return sys.getrefcount(obj) >= _IMMORTAL_FLOOR


_NUMBERS = (int, float, complex, bytes)


def _numbers(values: Iterable[Any]) -> Iterator[Any]:
    """The numbers (and bytes) among `values`, a tuple's items included: what a kernel's hot
    loop loads. Names and keyword tuples are loaded once per call, not per step."""
    for value in values:
        if isinstance(value, tuple):
            yield from _numbers(value)
        elif isinstance(value, _NUMBERS) and not isinstance(value, bool):
            yield value


def _code_numbers(code: CodeType) -> Iterator[Any]:
    """The numeric constants of a code object and of the code objects nested in it."""
    yield from _numbers(c for c in code.co_consts if not isinstance(c, CodeType))
    for nested in code.co_consts:
        if isinstance(nested, CodeType):
            yield from _code_numbers(nested)


def _shown(mortal: list[Any]) -> str:
    text = ", ".join(repr(c) if len(repr(c)) <= 12 else f"{type(c).__name__}(...)" for c in mortal[:4])
    return text + (f" (+{len(mortal) - 4})" if len(mortal) > 4 else "")


def mortal_constants(module_name: str) -> list[str]:
    """'function: 4.0, 2.0' for each function of the module whose numeric constants are
    mortal, and 'NAME: ...' for its module-level numbers (the round constants of sha256)."""
    module = importlib.import_module(module_name)
    short = module_name.rsplit(".", 1)[-1]
    found = []
    for name, value in vars(module).items():
        if inspect.isfunction(value):
            if value.__module__ != module_name:
                continue
            mortal = [c for c in _code_numbers(value.__code__) if not is_immortal(c)]
        elif not name.startswith("__"):
            mortal = [c for c in _numbers([value]) if not is_immortal(c)]
        else:
            continue
        if mortal:
            found.append(f"{short}.{name}: {_shown(mortal)}")
    return found


def mortal_kernel_constants() -> Optional[list[str]]:
    """The pure kernels' functions with constants threads share by reference count, on a
    free-threaded build ([] when none); None on a GIL build, where only one thread runs
    Python at a time and nobody contends for them."""
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return None
    found: list[str] = []
    for module_name in PURE_KERNEL_MODULES:
        try:
            found += mortal_constants(module_name)
        except ImportError:  # a kernel that cannot import here has no rows to explain
            continue
    return found
