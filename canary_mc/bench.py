"""Benchmarks measured in one run, reported as ratios: figures for ``make bench``.

Performance goals are checked here, never in timed tests.
"""

from __future__ import annotations

import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from canary_mc.engine.draws import draw_gaussian
from canary_mc.engine.kernels import rollout_outcomes
from canary_mc.engine.schedule import plan_policy, plan_world
from canary_mc.engine.simulate import chunk_ranges, default_chunk_rollouts, run_experiment
from canary_mc.errors import ConfigError
from canary_mc.model import HEALTHY, Experiment
from canary_mc.reference import reference_rollout


@dataclass(frozen=True)
class Measurement:
    """Throughput of one implementation."""

    name: str
    rollouts: int
    seconds: float

    @property
    def rollouts_per_second(self) -> float:
        return self.rollouts / self.seconds


@dataclass(frozen=True)
class EngineVsReference:
    """The vectorized engine against the scalar reference on the same experiment.

    Two ratios, both measured in the same run:

    - ``end_to_end``: the engine (drawing included) against the seed's way of working,
      a Python loop that draws each step's noise with ``random.gauss``;
    - ``decisions``: the engine's kernels against the reference's decision loop, both
      handed the same pre-drawn noise, so drawing is excluded from both.
    """

    experiment: str
    engine: Measurement
    reference: Measurement
    engine_kernels: Measurement
    reference_decisions: Measurement
    cores: int
    numpy_version: str
    python_version: str

    GOAL = 100.0
    """Engine / reference speed ratio the project aims for, on one core."""

    @property
    def end_to_end(self) -> float:
        return self.engine.rollouts_per_second / self.reference.rollouts_per_second

    @property
    def decisions(self) -> float:
        return (
            self.engine_kernels.rollouts_per_second / self.reference_decisions.rollouts_per_second
        )


def _best_of(repeats: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def bench_engine_vs_reference(
    experiment: Experiment,
    *,
    step_budget: int = 5_000_000,
    reference_rollouts: int = 20_000,
    repeats: int = 3,
) -> EngineVsReference:
    """Rollouts per second of the engine and of the scalar reference, healthy scenario.

    Everything runs in this one process, so on one core. The engine times
    ``step_budget / n_steps`` rollouts (1,000,000 on seed.yaml).
    """
    if experiment.noise.model != "gaussian":
        raise ConfigError(
            f"bench measures the Gaussian engine against its scalar reference; "
            f"noise.model must be 'gaussian', got {experiment.noise.model!r}"
        )
    healthy = experiment.model_copy(update={"scenarios": {"healthy": HEALTHY}})
    policy, service, noise = experiment.policy, experiment.service, experiment.noise
    n_steps = policy.n_steps
    engine_rollouts = max(1, step_budget // n_steps)

    engine_seconds = _best_of(repeats, lambda: run_experiment(healthy, rollouts=engine_rollouts))

    def seed_style_loop() -> None:
        rng = random.Random(experiment.seed)
        for _ in range(reference_rollouts):
            error_z = [rng.gauss(0.0, 1.0) for _ in range(n_steps)]
            latency_z = [rng.gauss(0.0, 1.0) for _ in range(n_steps)]
            reference_rollout(policy, service, noise, HEALTHY, error_z, latency_z)

    reference_seconds = _best_of(repeats, seed_style_loop)

    chunks = [
        draw_gaussian(experiment.seed, start, stop, n_steps)
        for start, stop in chunk_ranges(engine_rollouts, default_chunk_rollouts(n_steps))
    ]
    policy_plan = plan_policy(policy)
    world_plan = plan_world(policy, service, noise, HEALTHY)

    def kernels() -> None:
        for chunk in chunks:
            rollout_outcomes(chunk, world_plan, policy_plan)

    kernel_seconds = _best_of(repeats, kernels)
    reference_draws = draw_gaussian(experiment.seed, 0, reference_rollouts, n_steps)
    error_z = reference_draws.error_z.tolist()
    latency_z = reference_draws.latency_z.tolist()

    def decisions() -> None:
        for i in range(reference_rollouts):
            reference_rollout(policy, service, noise, HEALTHY, error_z[i], latency_z[i])

    decision_seconds = _best_of(repeats, decisions)
    return EngineVsReference(
        experiment=experiment.name,
        engine=Measurement("engine, end to end", engine_rollouts, engine_seconds),
        reference=Measurement(
            "reference, drawing with random.gauss", reference_rollouts, reference_seconds
        ),
        engine_kernels=Measurement(
            "engine kernels, pre-drawn noise", engine_rollouts, kernel_seconds
        ),
        reference_decisions=Measurement(
            "reference decisions, pre-drawn noise", reference_rollouts, decision_seconds
        ),
        cores=os.cpu_count() or 1,
        numpy_version=np.__version__,
        python_version=platform.python_version(),
    )
