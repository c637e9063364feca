"""The lab's probes inside the workers of a Dask cluster, seen from the client: each starts
and stops its half in labsrc.executors.dask.worker through `Client.run`, for exactly one timed run,
and merges what every worker measured into the one figure of the cell.
"""

from __future__ import annotations

import statistics
import uuid
from array import array
from typing import Any, Optional

from labsrc.executors.dask.worker import knock_start, knock_stop, probe_start, probe_stop
from labsrc.core.probe import HEARTBEAT_S, GilProbe


class WorkerProbe(GilProbe):
    """The lab's heartbeat inside every worker of the cluster, for one timed run.

    Started and stopped through `Client.run` (outside the timed window, as the harness's
    own probe is). On stop it holds every worker's beats as if it were one probe whose
    lifetime is the sum of theirs, so labsrc.core.probe.combined_stats gives the workers' mean
    share of time spent waiting for the GIL.
    """

    def __init__(self, client: Any) -> None:
        super().__init__(HEARTBEAT_S)
        self._client = client
        self._token = uuid.uuid4().hex

    def start(self) -> "WorkerProbe":
        self._client.run(probe_start, self._token)
        return self

    def stop(self) -> None:
        answers = self._client.run(probe_stop, self._token)
        beats = [(late, lifetime, floor) for late, lifetime, floor in answers.values()]
        self._late = array("d", (v for late, _, _ in beats for v in late))
        self._started, self._stopped = 0.0, sum(lifetime for _, lifetime, _ in beats)
        self.floor = statistics.fmean(floor for _, _, floor in beats) if beats else 0.0


class WorkerKnocker:
    """gilknocker inside every worker for one timed run; `contention` is their mean."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._token = uuid.uuid4().hex
        self.contention: Optional[float] = None

    def __enter__(self) -> "WorkerKnocker":
        self._client.run(knock_start, self._token)
        return self

    def __exit__(self, *exc_info: object) -> None:
        values = [v for v in self._client.run(knock_stop, self._token).values() if v is not None]
        self.contention = statistics.fmean(values) if values else None
