"""Shared fixtures: the seed's default configuration, built independently of its YAML file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from canary_mc.model import Experiment, GaussianNoise, Policy, Scenario, Service, Stage

# CI runs derandomized, so a red run is reproducible; locally hypothesis explores freely.
settings.register_profile(
    "canary",
    deadline=None,
    max_examples=150,
    print_blob=True,
    derandomize=bool(os.environ.get("CI")),
)
settings.load_profile("canary")

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"


def seed_policy(duration_steps: tuple[int, ...] = (1, 1, 1, 1, 1)) -> Policy:
    """The seed's ``default_stages()``, typed in from the seed's source."""
    rows = [
        ("canary-1pct", 1, 0.02),
        ("canary-5pct", 5, 0.015),
        ("progressive-25pct", 25, 0.01),
        ("progressive-50pct", 50, 0.01),
        ("full-100pct", 100, 0.005),
    ]
    return Policy(
        stages=[
            Stage(name=n, traffic_pct=t, duration_steps=d, error_threshold=e)
            for (n, t, e), d in zip(rows, duration_steps, strict=True)
        ],
        latency_threshold_ms=50,
    )


SEED_SERVICE = Service(error_rate=0.01, latency_ms=100)
SEED_NOISE = GaussianNoise(error_sigma=0.005, latency_sigma_ms=10)


@pytest.fixture
def seed_experiment() -> Experiment:
    return Experiment(
        name="seed",
        seed=42,
        rollouts=10_000,
        policy=seed_policy(),
        service=SEED_SERVICE,
        noise=SEED_NOISE,
        scenarios={"error-regression": Scenario(error_delta=0.01)},
    )
