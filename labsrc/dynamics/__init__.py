"""GIL dynamics: what CPU-bound threads do to I/O latency, bandwidth and an event loop,
and who holds the GIL (issue 8)."""
