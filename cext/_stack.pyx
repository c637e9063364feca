"""Call a Python function with the C stack deeper by a chosen number of bytes.

For labsrc.layout: the speed of the interpreter's loop depends on where its C stack frame
lands (measured on the lab's Xeon, pure-Python mandelbrot in one worker process, the C
stack moved 64 bytes at a time over a page: 59 ms a task at most offsets, 69-74 ms at
every fourth), and process start-up randomises where the stack begins, so the same cell
could run 13 % slower in one run than the next. Shifting the stack by each of a page's
offsets in turn averages that out. Python cannot move its own C stack; alloca can.
"""

cdef extern from "alloca.h":
    void* alloca(size_t size) nogil

cdef extern from *:
    """
    /* A store through a volatile pointer: the compiler must keep the alloca'd block. */
    static void gillab_touch(volatile char* block) { block[0] = 0; }
    """
    void gillab_touch(char* block) nogil

#: The largest shift accepted: one page. More would only waste stack.
MAX_SHIFT_BYTES = 4096


def call_deeper(size_t nbytes, fn, args, kwargs):
    """`fn(*args, **kwargs)` with nbytes (0..MAX_SHIFT_BYTES) more of C stack below us."""
    if nbytes > MAX_SHIFT_BYTES:
        raise ValueError(f"nbytes must be in 0..{MAX_SHIFT_BYTES}, got {nbytes}")
    gillab_touch(<char*>alloca(nbytes + 1))
    return fn(*args, **kwargs)
