"""The `hashlib` peer of the sha256 twins: the standard library's SHA-256 (OpenSSL).

Not a twin (it is a different C implementation, often with SHA CPU instructions), but
the natural yardstick: what a real program would call. hashlib releases the GIL while
hashing inputs larger than 2 KiB, so threads can overlap it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # collections.abc.Buffer is 3.12+; only the type checker needs it
    from typing_extensions import Buffer

__all__ = ["sha256"]


def sha256(data: Buffer) -> bytes:
    """Return `hashlib.sha256(data).digest()`, hashing the same bytes as the twins.

    hashlib refuses non-contiguous buffers, so those are gathered into bytes first
    (the twins hash `bytes(memoryview(data))` too).
    """
    view = memoryview(data)
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return hashlib.sha256(view).digest()
