"""The work of a run or a sweep, estimated before anything runs or is expanded.

One estimate for ``run`` and ``sweep``: rollout-steps, time at the measured speed of
each rule and noise model (:mod:`canary_mc.engine.cost`), and peak memory. A sweep is
estimated from its base experiment and, per swept axis, the experiments of that axis's
values alone: time scales by each axis's mean cost factor and memory by its largest,
so the estimate takes time proportional to the axes' values, never to the grid's
points. Work above a day or memory above half the machine's is refused without
``--yes`` (:func:`check_work`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from canary_mc.engine import cost
from canary_mc.errors import ConfigError
from canary_mc.model import Experiment

MAX_UNCONFIRMED_SECONDS = 24 * 3600
"""Longest estimated run that starts without ``--yes``."""

MEMORY_FRACTION = 0.5
"""Largest share of the machine's physical memory a run may need without ``--yes``."""

PROCESS_BYTES = 170e6
"""Resident memory of one canary-mc process before its first chunk (the libraries):
measured 160 MB for a whole small sweep; workers measured about 170 MB."""

NOTICE_SECONDS = 60.0
"""Runs estimated above this print their estimate before starting."""


@dataclass(frozen=True)
class WorkEstimate:
    """What a run will cost.

    Attributes
    ----------
    n_points : int
        Grid points (1 for ``run``).
    rollout_steps : float
        Simulated rollout-steps, summed over points and scenarios (whole blocks).
    seconds : float
        Wall time on ``workers`` processes at the measured speeds.
    peak_bytes : float
        Peak memory: every process's libraries and largest chunk, plus the plan.
    workers : int
    """

    n_points: int
    rollout_steps: float
    seconds: float
    peak_bytes: float
    workers: int

    def describe(self) -> str:
        """One line: ``1.2e+09 rollout-steps, about 3 min on 2 processes, ...``."""
        points = f"{self.n_points:,} grid points, " if self.n_points > 1 else ""
        return (
            f"{points}{self.rollout_steps:.3g} rollout-steps, about "
            f"{_duration(self.seconds)} on {self.workers} process(es), peak memory about "
            f"{_size(self.peak_bytes)}"
        )


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.0f} {unit}"
    return f"{max(seconds, 1):.0f} s"


def _size(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 1e3:.0f} kB"


def _simulation(experiment: Experiment) -> tuple[float, float, float, float]:
    """Rollout-steps, single-core seconds, a chunk's target bytes and one block's bytes
    of one experiment (a chunk needs at most the larger of the last two)."""
    policy, noise = experiment.policy, experiment.noise
    steps = (
        cost.simulated_rollouts(experiment.rollouts)
        * policy.max_steps
        * len(experiment.evaluated_scenarios)
    )
    seconds = steps * cost.seconds_per_rollout_step(policy, noise)
    return float(steps), seconds, cost.target_bytes(noise), cost.block_bytes(policy, noise)


def point_seconds(experiment: Experiment) -> float:
    """Single-core seconds to simulate one experiment at its rule's measured speed."""
    return _simulation(experiment)[1]


def estimate_work(
    base: Experiment,
    *,
    n_points: int = 1,
    axes: Iterable[list[Experiment]] = (),
    workers: int = 1,
) -> WorkEstimate:
    """Estimate a run (``n_points=1``) or a sweep without expanding its grid.

    Parameters
    ----------
    base : Experiment
        The experiment with every override applied.
    n_points : int
        Grid points.
    axes : iterable of list of Experiment
        Per swept axis (a zip counts as one), the base with each of its values set.
    workers : int
        Processes that run points at once.
    """
    steps, seconds, target, block = _simulation(base)
    step_factor = time_factor = block_factor = 1.0
    for variants in axes:
        costs = [_simulation(v) for v in variants]
        step_factor *= sum(c[0] for c in costs) / len(costs) / steps
        time_factor *= sum(c[1] for c in costs) / len(costs) / seconds
        target = max(target, *(c[2] for c in costs))
        block_factor *= max(c[3] for c in costs) / block
    chunk = max(target, block * block_factor)
    processes = max(1, min(workers, n_points))
    total = n_points * (seconds * time_factor + cost.POINT_SECONDS)
    plan = cost.PLAN_BYTES_PER_POINT * n_points if n_points > 1 else 0.0
    return WorkEstimate(
        n_points=n_points,
        rollout_steps=n_points * steps * step_factor,
        seconds=total / processes,
        peak_bytes=processes * (PROCESS_BYTES + chunk) + plan,
        workers=processes,
    )


def physical_memory() -> float:
    """Bytes of physical memory of this machine (8 GB where the OS does not say)."""
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 8e9


def check_work(estimate: WorkEstimate, *, what: str) -> None:
    """Refuse work above a day, or memory above half the machine, without ``--yes``.

    Raises
    ------
    ConfigError
        Naming ``what``, the estimate, the limit it breaks, and how to proceed.
    """
    limit = MEMORY_FRACTION * physical_memory()
    problems = []
    if estimate.seconds > MAX_UNCONFIRMED_SECONDS:
        problems.append(f"more than {_duration(MAX_UNCONFIRMED_SECONDS)}")
    if estimate.peak_bytes > limit:
        problems.append(f"more memory than {_size(limit)} (half of this machine's)")
    if problems:
        raise ConfigError(
            f"{what}: estimated {estimate.describe()}: {' and '.join(problems)}; pass "
            "--yes to run it anyway, or shrink the grid, --rollouts or the rule's samples"
        )
