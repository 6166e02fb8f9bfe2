"""Shared pytest setup: deterministic hypothesis, and the repo's paths."""

import os
import pathlib

from hypothesis import HealthCheck, settings

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Seed every RNG: hypothesis runs derandomized, so a run is repeatable on any machine.
settings.register_profile(
    "dirft", derandomize=True, deadline=None, max_examples=200,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("DIRFT_HYPOTHESIS_PROFILE", "dirft"))
