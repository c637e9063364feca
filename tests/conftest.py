"""Test configuration shared by every suite."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The machines are 2 shared cores: no deadlines, modest example counts, reproducible runs.
settings.register_profile(
    "lab",
    deadline=None,
    max_examples=60,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lab"))
