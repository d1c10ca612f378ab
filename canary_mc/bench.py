"""Benchmarks measured in one run, reported as ratios: figures for ``make bench``.

Performance goals are checked here, never in timed tests.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from canary_mc.engine.draws import draw_gaussian
from canary_mc.engine.simulate import run_experiment
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
    """The vectorized engine against the scalar reference on the same experiment."""

    experiment: str
    engine: Measurement
    reference: Measurement
    cores: int
    numpy_version: str
    python_version: str

    @property
    def speedup(self) -> float:
        return self.engine.rollouts_per_second / self.reference.rollouts_per_second


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
    engine_rollouts: int = 1_000_000,
    reference_rollouts: int = 20_000,
    repeats: int = 3,
) -> EngineVsReference:
    """Rollouts per second of the engine and of the scalar reference, healthy scenario.

    The engine is timed end to end (drawing included) on one core. The reference is
    handed pre-drawn noise and only its decision loop is timed, which flatters it.
    """
    healthy = experiment.model_copy(update={"scenarios": {"healthy": HEALTHY}})
    engine_seconds = _best_of(repeats, lambda: run_experiment(healthy, rollouts=engine_rollouts))
    policy, service, noise = experiment.policy, experiment.service, experiment.noise
    draws = draw_gaussian(experiment.seed, 0, reference_rollouts, policy.n_steps)
    error_z, latency_z = draws.error_z.tolist(), draws.latency_z.tolist()

    def reference_loop() -> None:
        for i in range(reference_rollouts):
            reference_rollout(policy, service, noise, HEALTHY, error_z[i], latency_z[i])

    reference_seconds = _best_of(repeats, reference_loop)
    return EngineVsReference(
        experiment=experiment.name,
        engine=Measurement("engine", engine_rollouts, engine_seconds),
        reference=Measurement("scalar reference", reference_rollouts, reference_seconds),
        cores=os.cpu_count() or 1,
        numpy_version=np.__version__,
        python_version=platform.python_version(),
    )
