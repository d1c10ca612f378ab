"""Shared fixtures: the seed's default configuration, built independently of its YAML file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from canary_mc.engine.core.outcomes import reason_name
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

SHORTHAND = ("error", "latency")
"""Reason names of the shorthand policy's two metrics, in the engine's order."""


def engine_outcome(outcomes, i: int, names=SHORTHAND) -> tuple:
    """Rollout ``i`` of the engine's ``Outcomes`` in the scalar reference's terms:
    ``(rolled_back, decision_step, decision_stage, reason, steps_run)``."""
    return (
        bool(outcomes.rolled_back[i]),
        int(outcomes.decision_step[i]),
        int(outcomes.decision_stage[i]),
        reason_name(int(outcomes.reason[i]), names),
        int(outcomes.steps_run[i]),
    )


def reference_outcome(ref) -> tuple:
    """A scalar reference's rollout, in the order of :func:`engine_outcome`."""
    return (ref.rolled_back, ref.decision_step, ref.decision_stage, ref.reason, ref.steps_run)


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
