# cython: freethreading_compatible=False, subinterpreters_compatible=no
"""cext.primes built WITHOUT the free-threading declaration: the lab's demonstration of the
silent re-enable (`gil-lab demo reenable`).

The very same code as cext.primes (included below), so its answers and its `with nogil`
blocks are the same; the one difference is this file's first line, which overrides the
`freethreading_compatible=True` that setup.py gives every other module (and its
`subinterpreters_compatible=own_gil`: the module declares nothing, so an own-GIL
sub-interpreter refuses it too, the audit's known "no" made here). Without it, Cython
does not set the module's `Py_mod_gil` slot to `Py_MOD_GIL_NOT_USED`, and a free-threaded
CPython (3.13t) that imports it turns the GIL back on for the whole process, with a
RuntimeWarning, unless PYTHON_GIL=0 (or -X gil=0) forces it off. On a GIL build the
directive changes nothing. Import it only in a process of its own: never in the lab's
workers, nor in a test process that must stay free.
"""

include "primes.pyx"
