"""Test configuration shared by every suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from flags.mpcontext import record_fork_warnings

# The machines are 2 shared cores: no deadlines, modest example counts, reproducible runs.
settings.register_profile(
    "lab",
    deadline=None,
    max_examples=60,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lab"))


@pytest.fixture(autouse=True)
def no_fork_in_a_threaded_process() -> Iterator[None]:
    """Fail any test whose process pool forked this (threaded) process: a child forked while
    another thread holds a lock can hang forever (Python 3.12+ warns about it).

    An "error" warnings filter cannot do it: os.fork() discards the exception it would raise
    (see flags.mpcontext.record_fork_warnings), so the warning is recorded and judged here.
    """
    with record_fork_warnings() as forks:
        yield
    if forks:
        pytest.fail(f"fork() in a multi-threaded process: {forks[0].message} "
                    f"({forks[0].filename}:{forks[0].lineno})")
