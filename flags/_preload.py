"""What a processpool worker needs before its first request, done once in the forkserver.

`flags.processpool` names this module as the forkserver's preload: the server imports it
before it forks any worker, and every worker starts as a copy of the server, so what is
imported or built here costs a worker nothing. Each item below was imported or built by
every one of 20 workers before (python -X importtime, 2 cores, all 20 at once):

- httpcore, which httpx imports only when the first client is made (70-350 ms a worker
  with 20 of them sharing two cores);
- the CA bundle of the verifying SSL context (flags.common.shared_ssl_context);
- concurrent.futures.process and multiprocessing.synchronize: a new worker imports them to
  unpickle its own loop (``_process_worker``) and the locks of the pool's queues;
- encodings.idna, which socket.getaddrinfo imports to encode a host name.

Only the forkserver needs to import this module; the parent has no use for what it builds.
"""

from __future__ import annotations

import concurrent.futures.process  # noqa: F401
import encodings.idna  # noqa: F401
import multiprocessing.synchronize  # noqa: F401

import httpcore  # noqa: F401

import flags.processpool  # noqa: F401  (the worker's functions)
from flags.common import shared_ssl_context

for _trust_env in (False, True):  # the local servers' runs, then REMOTE's
    try:
        shared_ssl_context(_trust_env)
    except Exception:  # noqa: BLE001
        # The forkserver passes over a preload that raises ImportError but dies of any
        # other error, taking the pool with it: a worker that needs this context builds
        # it itself instead, and reports any error as that download's.
        pass
