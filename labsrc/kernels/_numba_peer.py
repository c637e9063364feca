"""What the numba peers (`labsrc.kernels.<kernel>_numba`) share.

- The import check: without numba, importing any peer raises `ImplUnavailable` with the
  install hint (on a free-threaded build, which numba has no wheels for yet, a reason that
  says so instead of a hint that cannot work there), which `Impl.load()` passes on as the
  implementation's reason (it only rewrites ImportError), so the harness shows an
  "unavailable" row instead of crashing.
- Eager, timed compilation: every kernel function is compiled for explicit signatures
  when its module is imported, twice: once with `nogil=True` (the `numba` row) and once
  holding the GIL (`numba_gil`). Loading an impl therefore compiles it before any timing,
  and each module records the seconds in its `COMPILE_S` dict.
- Buffers as read-only byte arrays, read in place when contiguous (as `cext` does).

Compilation is not cached on disk (`cache=True`): every process pays it, so the cost the
lab reports is the one a fresh worker process really pays.
"""

from __future__ import annotations

import sysconfig
import time
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

from labsrc.kernels.catalog import ImplUnavailable

# `types` is numba's, re-exported: the peers reach numba only through this module, so a
# missing numba always gives the install hint, never a bare ImportError from a peer.
__all__ = [
    "BYTES", "READONLY_BYTES", "UNAVAILABLE", "UNAVAILABLE_FREE_THREADED", "buffer_bytes",
    "compile_helper", "compile_pair", "types",
]

#: The reason an impl gives when numba is missing (the `peers` extra brings it).
UNAVAILABLE = "unavailable: pip install 'gil-lab[peers]'"
#: The reason on a free-threaded build (3.13t), where that extra cannot bring it: numba
#: publishes no free-threaded wheels yet (the build decides, PYTHON_GIL=1 or not).
UNAVAILABLE_FREE_THREADED = ("unavailable: numba has no free-threaded build yet "
                             "(pip install 'gil-lab[peers]' needs a GIL build)")

try:
    import numba
    from numba import types
except ImportError as exc:  # not installed, or broken (e.g. a numpy it does not support)
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    raise ImplUnavailable(UNAVAILABLE_FREE_THREADED if free_threaded else UNAVAILABLE) from exc

#: numba's type of a read-only 1-D C-contiguous uint8 array: every input buffer is passed
#: as one, so a single compiled signature serves bytes and bytearray alike.
READONLY_BYTES = types.Array(types.uint8, 1, "C", readonly=True)
#: A writable 1-D C-contiguous uint8 array (outputs).
BYTES = types.Array(types.uint8, 1, "C")


def compile_pair(
    func: Callable[..., Any], signature: Any, name: str, compile_s: dict[str, float]
) -> tuple[Any, Any]:
    """Compile `func` for `signature` now: (GIL-releasing dispatcher, GIL-holding one).

    The seconds each compilation took go into `compile_s[name]` and
    `compile_s[name + "_gil"]`. Both dispatchers run the same machine code; `nogil=True`
    only makes the call wrapper release the GIL around it.
    """
    started = time.perf_counter()
    released = numba.njit(signature, nogil=True)(func)
    compile_s[name] = time.perf_counter() - started
    started = time.perf_counter()
    held = numba.njit(signature)(func)
    compile_s[name + "_gil"] = time.perf_counter() - started
    return released, held


def compile_helper(
    func: Callable[..., Any], signature: Any, name: str, compile_s: dict[str, float]
) -> Any:
    """Compile `func`, called only from other compiled functions, once; time it.

    The GIL flag matters only where Python calls in, so a helper needs no pair.
    """
    started = time.perf_counter()
    compiled = numba.njit(signature)(func)
    compile_s[name] = time.perf_counter() - started
    return compiled


def buffer_bytes(value: object, reject: Callable[[object], object]) -> npt.NDArray[np.uint8]:
    """The raw bytes of buffer `value` in C order as a read-only 1-D uint8 array.

    A C-contiguous buffer of any item format and shape is viewed in place (the array keeps
    the memoryview, so the buffer stays exported, and a bytearray cannot be resized, while
    numba reads it); only a strided one is copied, into what `bytes(memoryview(value))`
    gives, so every implementation sees the same bytes. For anything that is not a buffer
    (str included) `reject(value)` is called, and must raise: the pure-Python twin's own
    check goes there, so the TypeError says word for word what the twin says.
    """
    try:
        view = memoryview(value)  # type: ignore[arg-type]
    except TypeError:
        pass  # raised below, outside this handler, so no chained "during handling" traceback
    else:
        if view.c_contiguous:
            array = np.frombuffer(view, dtype=np.uint8)
        else:
            array = np.frombuffer(view.tobytes(), dtype=np.uint8)
        # Read-only always, so the arrays match READONLY_BYTES exactly; clearing the flag on
        # our own view changes nothing for the caller's buffer.
        array.flags.writeable = False
        return array
    reject(value)
    raise TypeError(f"not a bytes-like object: {type(value).__name__}")  # if reject did not
