"""Hypothesis profiles: `pytest` uses "default"; `--hypothesis-profile=thorough` (or
TWINPORT_HYPOTHESIS_PROFILE) for the long run, "debug" to read what is generated."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Verbosity
from hypothesis import settings as hypothesis_settings

_COMMON: dict[str, Any] = {
    "deadline": None,  # requests hit real databases and threads; timing is not the point
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
hypothesis_settings.register_profile("default", max_examples=60, stateful_step_count=20, **_COMMON)
hypothesis_settings.register_profile(
    "thorough", max_examples=1500, stateful_step_count=50, **_COMMON
)
hypothesis_settings.register_profile(
    "debug", max_examples=20, verbosity=Verbosity.verbose, **_COMMON
)
hypothesis_settings.load_profile(os.environ.get("TWINPORT_HYPOTHESIS_PROFILE", "default"))
