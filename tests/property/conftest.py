"""Hypothesis settings shared by the property tests: bounded example counts
and no per-example deadline (the machine is shared and slow), derandomized
so a run is reproducible, with no example database (nothing written into
the checkout); HYPOTHESIS_PROFILE=long explores more."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
