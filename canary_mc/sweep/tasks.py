"""What a worker runs: a task of grid points, simulated with the engine alone.

Kept apart from :mod:`canary_mc.sweep.runner` so that a worker process, which imports
this module to unpickle its task, does not import pandas and pyarrow: measured, that
halves a spawned worker's start-up (0.60 s against 0.24 s of imports).
"""

from __future__ import annotations

from dataclasses import dataclass

from canary_mc.engine.fastpath.shared import tally_threshold_settings
from canary_mc.engine.simulate import tally_experiment
from canary_mc.heap import keep_freed_memory
from canary_mc.model import Experiment
from canary_mc.stats.tally import Tally

Point = tuple[int, str, Experiment]
"""A grid point to run: its index, its key and its experiment."""

MAX_SHARED = 16
"""Most threshold settings one task decides on shared paths."""


@dataclass(frozen=True)
class PointTask:
    """Work sent to an executor: units of grid points, each with its key.

    A unit of several points differs only in error thresholds: it is decided on shared
    paths (:mod:`canary_mc.engine.fastpath.shared`), with the same numbers as one by one.
    """

    units: tuple[tuple[Point, ...], ...]
    chunk_rollouts: int | None


def run_task(task: PointTask) -> list[tuple[int, str, dict[str, Tally]]]:
    """Simulate every point of a task. Runs in worker processes: module-level, picklable."""
    keep_freed_memory()  # a spawned worker is a fresh process
    done = []
    for unit in task.units:
        shared = None
        if len(unit) > 1:
            experiments = [experiment for _, _, experiment in unit]
            shared = tally_threshold_settings(experiments, chunk_rollouts=task.chunk_rollouts)
        if shared is None:  # one point, or settings that are not nested
            shared = [
                tally_experiment(experiment, chunk_rollouts=task.chunk_rollouts)
                for _, _, experiment in unit
            ]
        done += [
            (index, key, tallies) for (index, key, _), tallies in zip(unit, shared, strict=True)
        ]
    return done
