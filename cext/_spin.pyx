"""A plain C loop without the GIL: the yardstick of what the machine gives in parallel.

For labsrc.core.ceiling: timed alone and as N copies at once inside the same rounds as the
cells, its ratio is the machine's parallel ceiling at that moment (2 vCPUs of a shared host
gave a loop like this 1.84x-1.97x in three back-to-back tries). The loop keeps its state in
one register (xorshift64), touches no memory and calls nothing, so only the cores' own
speed and their sharing with the rest of the host move its time.
"""


def spin(unsigned long long steps):
    """Run `steps` xorshift64 steps without the GIL; the final state (so that no compiler
    can drop the loop). The same steps give the same value on every machine."""
    cdef unsigned long long state = 88172645463325252ULL
    cdef unsigned long long i
    with nogil:
        for i in range(steps):
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
    return state
