"""Benchmarks measured in one run, reported as ratios: figures for ``make bench``.

Performance goals are checked here, never in timed tests. :func:`run_benchmarks` measures
every figure of the performance issue in one process (plus one child process for the
memory figure), each as a ratio of two timings taken minutes apart at most, so the
machine's speed cancels out.
"""

from __future__ import annotations

import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from canary_mc.engine.core.schedule import plan_fault, plan_policy, plan_world
from canary_mc.engine.noise.draws import draw_gaussian
from canary_mc.engine.rules.registry import rollout_outcomes
from canary_mc.engine.simulate import (
    chunk_ranges,
    default_chunk_rollouts,
    run_experiment,
    tally_experiment,
)
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
    engine_all: Measurement
    reference_all: Measurement
    cores: int
    numpy_version: str
    python_version: str

    GOAL = 100.0
    """Engine / reference speed ratio the project aims for, on one core."""

    @property
    def end_to_end(self) -> float:
        return self.engine.rollouts_per_second / self.reference.rollouts_per_second

    @property
    def whole_experiment(self) -> float:
        """Scenario-rollouts per second on the file as written (every scenario)."""
        return self.engine_all.rollouts_per_second / self.reference_all.rollouts_per_second

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
    """Rollouts per second of the engine and of the scalar reference: on the healthy
    scenario alone (end to end, and decisions only), and on the file as written.

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

    # The file as written: every scenario. The engine draws once for all of them (common
    # random numbers); the seed's way runs each scenario's rollouts on their own.
    scenarios = experiment.evaluated_scenarios
    whole = experiment.model_copy(update={"sweep": None})
    all_seconds = _best_of(repeats, lambda: run_experiment(whole, rollouts=engine_rollouts))

    def seed_style_all() -> None:
        rng = random.Random(experiment.seed)
        for scenario in scenarios.values():
            for _ in range(reference_rollouts):
                error_z = [rng.gauss(0.0, 1.0) for _ in range(n_steps)]
                latency_z = [rng.gauss(0.0, 1.0) for _ in range(n_steps)]
                reference_rollout(policy, service, noise, scenario, error_z, latency_z)

    reference_all_seconds = _best_of(repeats, seed_style_all)
    n_scenarios = len(scenarios)
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
        engine_all=Measurement(
            f"engine, all {n_scenarios} scenarios", engine_rollouts * n_scenarios, all_seconds
        ),
        reference_all=Measurement(
            f"reference, all {n_scenarios} scenarios, random.gauss",
            reference_rollouts * n_scenarios,
            reference_all_seconds,
        ),
        cores=os.cpu_count() or 1,
        numpy_version=np.__version__,
        python_version=platform.python_version(),
    )


@dataclass(frozen=True)
class Figure:
    """One benchmark figure: our time against a baseline's, and the goal for the ratio.

    ``ratio = ours / baseline`` for the RNG-floor, shared-path and parallel figures
    (lower is better except for speed-ups, see ``higher_is_better``).
    """

    name: str
    what: str
    ours: float
    baseline: float
    ratio: float
    goal: float | None
    higher_is_better: bool
    unit: str = "s"

    @property
    def met(self) -> bool | None:
        """Whether the goal was met; ``None`` for a figure without a goal."""
        if self.goal is None:
            return None
        return self.ratio >= self.goal if self.higher_is_better else self.ratio <= self.goal

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "what": self.what,
            "ours": self.ours,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "goal": self.goal,
            "goal_is": "at least" if self.higher_is_better else "at most",
            "met": self.met,
            "unit": self.unit,
        }


@dataclass(frozen=True)
class BenchReport:
    """Every figure of ``canary-mc bench``, and the machine they were measured on."""

    figures: tuple[Figure, ...]
    machine: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        return {"machine": self.machine, "figures": [f.to_dict() for f in self.figures]}


def machine_info() -> dict[str, object]:
    """Cores, Python, NumPy and its BLAS, as printed beside the figures."""
    from canary_mc.sweep.executors import default_workers

    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        blas_name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError, AttributeError):
        blas_name = "unknown"
    return {
        "cores_seen": default_workers(),
        "cpu_count": os.cpu_count() or 1,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_name,
        "platform": platform.platform(),
    }


def rng_floor_gaussian(experiment: Experiment, *, rollouts: int, repeats: int = 3) -> Figure:
    """One configuration (the healthy scenario) against drawing its normals, nothing else.

    The floor draws the same ``2 * rollouts * n_steps`` standard normals with one NumPy
    generator, in arrays of the engine's chunk size.
    """
    healthy = experiment.model_copy(update={"scenarios": {"healthy": HEALTHY}, "sweep": None})
    n_steps = experiment.policy.max_steps
    ours = _best_of(repeats, lambda: tally_experiment(healthy, rollouts=rollouts))
    chunk = default_chunk_rollouts(n_steps)

    def floor() -> None:
        rng = np.random.default_rng(experiment.seed)
        for start, stop in chunk_ranges(rollouts, chunk):
            rng.standard_normal((n_steps, stop - start))
            rng.standard_normal((n_steps, stop - start))

    baseline = _best_of(repeats, floor)
    return Figure(
        "rng_floor_gaussian",
        f"{experiment.name}, healthy scenario, {rollouts:,} rollouts: engine time against "
        "NumPy drawing the same normals",
        ours,
        baseline,
        ours / baseline,
        1.5,
        False,
    )


def rng_floor_counts(experiment: Experiment, *, rollouts: int, repeats: int = 3) -> Figure:
    """One counts configuration (healthy) against the engine's own drawing step alone.

    The floor is :func:`canary_mc.engine.counts.draw_counts` for the same chunks: the
    binomial, lognormal and gamma variates of the model and nothing after them.
    """
    from canary_mc.engine.noise.counts import draw_counts, plan_counts_world

    healthy = experiment.model_copy(update={"scenarios": {"healthy": HEALTHY}, "sweep": None})
    policy = healthy.policy
    ours = _best_of(repeats, lambda: tally_experiment(healthy, rollouts=rollouts))
    world = plan_counts_world(policy, healthy.service, healthy.noise)
    fault = plan_fault(policy, HEALTHY)
    chunk = default_chunk_rollouts(policy.max_steps)

    def floor() -> None:
        for start, stop in chunk_ranges(rollouts, chunk):
            draw_counts(healthy.seed, start, stop, world, [fault])

    baseline = _best_of(repeats, floor)
    return Figure(
        "rng_floor_counts",
        f"{experiment.name}, healthy scenario, {rollouts:,} rollouts: engine time against "
        "its drawing step alone",
        ours,
        baseline,
        ours / baseline,
        1.5,
        False,
    )


def shared_paths(
    experiment: Experiment, *, rollouts: int, settings: int = 10, repeats: int = 3
) -> Figure:
    """Ten error-threshold scales decided on shared paths, against one scale alone."""
    from canary_mc.engine.fastpath.shared import tally_threshold_settings

    base = experiment.model_copy(update={"rollouts": rollouts, "sweep": None})
    scales = np.linspace(0.5, 3.0, settings)
    variants = [
        base.model_copy(
            update={"policy": base.policy.model_copy(update={"error_threshold_scale": float(s)})}
        )
        for s in scales
    ]
    ours = _best_of(repeats, lambda: tally_threshold_settings(variants))
    baseline = _best_of(repeats, lambda: tally_experiment(variants[0]))
    return Figure(
        "shared_path_sweep",
        f"{experiment.name}, {settings} error-threshold scales on shared paths against one "
        f"scale, {rollouts:,} rollouts, every scenario",
        ours,
        baseline,
        ours / baseline,
        2.0,
        False,
    )


MEMORY_SCRIPT = """
import resource, sys
from canary_mc.heap import keep_freed_memory
keep_freed_memory()  # as the command line does
from canary_mc.engine.simulate import run_experiment
from canary_mc.io.experiment_file import load_experiment
run_experiment(load_experiment(sys.argv[1]).model_copy(update={"sweep": None}),
               rollouts=int(sys.argv[2]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_memory(path: str, *, rollouts: int = 10_000_000) -> Figure:
    """Peak resident memory of a fresh process running ``rollouts`` rollouts of ``path``.

    Linux reports ``ru_maxrss`` in KiB. The baseline column is the goal (512 MiB).
    """
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, path, str(rollouts)],
        check=True,
        capture_output=True,
        text=True,
    )
    mib = int(done.stdout.split()[-1]) / 1024
    return Figure(
        "peak_memory",
        f"peak RSS of one process running {rollouts:,} rollouts of {path}",
        mib,
        512.0,
        mib / 512.0,
        1.0,
        False,
        unit="MiB",
    )


def parallel_speedup(experiment: Experiment, *, points: int = 40, rollouts: int) -> Figure:
    """A ``points``-point sweep on 2 worker processes against 1, each point its own world."""
    import tempfile

    from canary_mc.sweep.executors import ProcessExecutor, SerialExecutor
    from canary_mc.sweep.runner import SweepPlan, run_sweep

    base = experiment.model_copy(update={"rollouts": rollouts, "sweep": None})
    sigma = base.noise.error_sigma if base.noise.model == "gaussian" else None
    if sigma is None:
        raise ConfigError("the parallel figure needs a Gaussian experiment")
    grid = [
        (i, {"noise.error_sigma": float(s)},
         base.model_copy(update={"noise": base.noise.model_copy(update={"error_sigma": float(s)})}))
        for i, s in enumerate(np.linspace(sigma * 0.5, sigma * 2.0, points))
    ]  # fmt: skip
    plan = SweepPlan(sweep_file=_bench_sweep_file(base), base=base, points=tuple(grid))
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_sweep(plan, out, executor=SerialExecutor(), fresh=True)
        one = time.perf_counter() - start
        start = time.perf_counter()
        run_sweep(plan, out, executor=ProcessExecutor(2), fresh=True)
        two = time.perf_counter() - start
    return Figure(
        "parallel_speedup",
        f"{points}-point sweep of {experiment.name} ({rollouts:,} rollouts each): "
        "--workers 1 time over --workers 2 time",
        two,
        one,
        one / two,
        None,  # the issue asks for the figure and the cores seen, not a target
        True,
    )


def _bench_sweep_file(experiment: Experiment):
    """A stand-in for a file: the bench's sweep is built in code, not read from YAML."""
    from canary_mc.io.experiment_file import SweepFile

    return SweepFile("<bench>", "", experiment, 1, (), {}, {}, None)  # type: ignore[arg-type]


def run_benchmarks(
    seed_path: str = "experiments/seed.yaml",
    counts_path: str = "experiments/low-traffic.yaml",
    *,
    quick: bool = False,
) -> tuple[EngineVsReference, BenchReport]:
    """Every figure of ``make bench``. ``quick`` shrinks every size (for tests only)."""
    from canary_mc.io.experiment_file import load_experiment

    seed = load_experiment(seed_path)
    scale = 100 if quick else 1
    reference = bench_engine_vs_reference(
        seed,
        step_budget=5_000_000 // scale,
        reference_rollouts=20_000 // scale,
        repeats=1 if quick else 3,
    )
    counts = load_experiment(counts_path)
    repeats = 1 if quick else 3
    figures = (
        rng_floor_gaussian(seed, rollouts=1_000_000 // scale, repeats=repeats + 2),
        rng_floor_counts(counts, rollouts=200_000 // scale, repeats=repeats),
        shared_paths(seed, rollouts=1_000_000 // scale, repeats=repeats),
        peak_memory(seed_path, rollouts=10_000_000 // scale),
        parallel_speedup(seed, rollouts=400_000 // scale),
    )
    return reference, BenchReport(figures=figures, machine=machine_info())


def reference_dict(result: EngineVsReference) -> dict[str, object]:
    """The engine-against-reference figures as JSON-ready values."""
    return {
        "experiment": result.experiment,
        "engine_rollouts_per_second": result.engine.rollouts_per_second,
        "reference_rollouts_per_second": result.reference.rollouts_per_second,
        "end_to_end_ratio": result.end_to_end,
        "engine_kernel_rollouts_per_second": result.engine_kernels.rollouts_per_second,
        "reference_decision_rollouts_per_second": result.reference_decisions.rollouts_per_second,
        "decisions_ratio": result.decisions,
        "whole_experiment_ratio": result.whole_experiment,
        "goal": result.GOAL,
        "met_on_the_file_as_written": result.whole_experiment >= result.GOAL,
        "met_on_one_scenario": result.end_to_end >= result.GOAL,
    }
