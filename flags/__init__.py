"""The I/O-bound side of the lab: Fluent Python's flags downloaders against a local server.

Variants (each defines only ``download_many``): sequential, threadpool, threadpool_ac,
processpool, asyncio_mode. Shared parts: common (outcomes, atomic writes, reports), cli
(``python -m flags``), server (``python -m flags.server``), embedded (the server in its own
process), gifs, countries, bench (``measure_modes`` and ``python -m flags.bench``),
mpcontext (how worker processes start, and what they skip), _preload (what a processpool
worker finds done).
"""
