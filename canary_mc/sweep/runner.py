"""Run a sweep: expand the grid, run the missing points, write the results.

``run_sweep`` is the whole job behind ``canary-mc sweep``; the CLI only adds the
progress display. Each grid point is an :class:`Experiment` simulated by
:func:`canary_mc.engine.tally_experiment`; its tallies are saved the moment they arrive
(:mod:`canary_mc.sweep.store`), and the Parquet files are assembled from the saved
tallies at the end, so a resumed sweep ends exactly where an uninterrupted one does.
"""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from canary_mc import __version__
from canary_mc.engine import estimate_experiment
from canary_mc.engine.core.schedule import plan_policy
from canary_mc.engine.fastpath.shared import shared_key
from canary_mc.errors import ConfigError
from canary_mc.io.experiment_file import SweepFile
from canary_mc.model import HEALTHY, HEALTHY_NAME, Experiment
from canary_mc.stats.tally import Tally
from canary_mc.sweep import store
from canary_mc.sweep.executors import Executor, SerialExecutor
from canary_mc.sweep.tasks import MAX_SHARED, Point, PointTask, run_task

ROLLOUT_STEPS_PER_SECOND = 2e7
"""A conservative single-core engine speed (rollout-steps per scenario per second) on
this project's reference machine, used only to estimate how long a sweep will take."""

MAX_UNCONFIRMED_SECONDS = 6 * 3600
"""Longest estimated run that starts without ``--yes``."""


@dataclass(frozen=True)
class SweepResult:
    """What a sweep wrote.

    Attributes
    ----------
    directory : Path
        ``<out>/<experiment name>``.
    summary, stages : Path
        The two Parquet files.
    n_points : int
    reused : int
        Points whose tallies were already on disk (a resumed sweep).
    """

    directory: Path
    summary: Path
    stages: Path
    n_points: int
    reused: int


def work_of(sweep_file: SweepFile, rollouts: int | None = None) -> float:
    """Rollout-steps a sweep needs, summed over points and scenarios (an estimate input).

    ``rollouts`` and the number of steps may be swept; the base values are used, so it is
    an estimate, computed without expanding the grid.
    """
    experiment = sweep_file.experiment
    n = experiment.rollouts if rollouts is None else rollouts
    scenarios = len(experiment.evaluated_scenarios)
    return float(sweep_file.n_points) * scenarios * n * experiment.policy.n_steps


def check_size(sweep_file: SweepFile, *, rollouts: int | None, workers: int) -> None:
    """Refuse a sweep estimated to run longer than :data:`MAX_UNCONFIRMED_SECONDS`.

    Raises
    ------
    ConfigError
        Naming the grid's size and the estimated time, and how to run it anyway.
    """
    work = work_of(sweep_file, rollouts)
    seconds = work / ROLLOUT_STEPS_PER_SECOND / max(workers, 1)
    if seconds > MAX_UNCONFIRMED_SECONDS:
        experiment = sweep_file.experiment
        n = experiment.rollouts if rollouts is None else rollouts
        raise ConfigError(
            f"{sweep_file.path}: the sweep has {sweep_file.n_points:,} grid points x "
            f"{len(experiment.evaluated_scenarios)} scenarios x {n:,} rollouts "
            f"({work:.3g} rollout-steps), about {seconds / 3600:,.0f} hours on {workers} "
            "worker(s); pass --yes to run it anyway, or shrink the grid or --rollouts"
        )


@dataclass(frozen=True)
class SweepPlan:
    """A sweep ready to run: every grid point validated, command-line overrides applied.

    Attributes
    ----------
    sweep_file : SweepFile
    base : Experiment
        The file's experiment with the overrides: the resolved configuration.
    points : tuple of (index, swept values, experiment)
        In expansion order.
    """

    sweep_file: SweepFile
    base: Experiment
    points: tuple[tuple[int, dict[str, Any], Experiment], ...]

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def total_rollouts(self) -> int:
        """Rollouts over all points (each covers every scenario on the same draws)."""
        return sum(experiment.rollouts for _, _, experiment in self.points)


def overrides(rollouts: int | None, seed: int | None) -> dict[str, int]:
    """The command line's ``--rollouts``/``--seed`` as a model update."""
    return {k: v for k, v in (("rollouts", rollouts), ("seed", seed)) if v is not None}


def plan_sweep(
    sweep_file: SweepFile, *, rollouts: int | None = None, seed: int | None = None
) -> SweepPlan:
    """Expand and validate every grid point, applying ``--rollouts``/``--seed``.

    Raises
    ------
    ConfigError
        If ``rollouts`` (or ``seed``) is given for a sweep that sweeps it.
    ExperimentFileError
        If some combination of swept values is invalid.
    """
    for name, value in (("rollouts", rollouts), ("seed", seed)):
        if value is not None and name in sweep_file.axes:
            raise ConfigError(
                f"{sweep_file.path}: {name} is swept in the file, so --{name} cannot set it"
            )
    update = overrides(rollouts, seed)
    base = sweep_file.experiment.model_copy(update=update)
    names = list(base.evaluated_scenarios)
    return SweepPlan(
        sweep_file=sweep_file,
        base=base,
        points=tuple(
            (
                point.index,
                point.values,
                _same_scenarios(experiment.model_copy(update=update), names),
            )
            for point, experiment in sweep_file.points()
        ),
    )


def _same_scenarios(experiment: Experiment, names: list[str]) -> Experiment:
    """Keep the base's evaluated scenarios at every point.

    When the file has no healthy scenario, ``healthy`` is added; a point whose swept
    effect makes a file scenario healthy (``error_delta: 0``) keeps that added one too,
    so every point has the same rows and the same false-alarm scenario.
    """
    if list(experiment.evaluated_scenarios) == names:
        return experiment
    scenarios = {HEALTHY_NAME: HEALTHY, **experiment.scenarios}
    return experiment.model_copy(update={"scenarios": scenarios})


def run_sweep(
    plan: SweepPlan,
    out: str | Path,
    *,
    executor: Executor | None = None,
    fresh: bool = False,
    chunk_rollouts: int | None = None,
    on_point: Callable[[int], Any] | None = None,
) -> SweepResult:
    """Run every grid point not already on disk, then write the Parquet files.

    Parameters
    ----------
    plan : SweepPlan
        From :func:`plan_sweep`.
    out : path
        Results root; this sweep writes ``out/<experiment name>/``.
    executor : Executor, optional
        Where points run; default :class:`SerialExecutor`. It never changes the numbers.
    fresh : bool
        Delete this sweep's saved points and results first.
    chunk_rollouts : int, optional
        Engine chunk size; never changes the numbers.
    on_point : callable, optional
        Called with the rollouts of each point as it is done (0 for a saved point).

    Returns
    -------
    SweepResult
    """
    directory = Path(out) / plan.name
    if fresh:
        clear(directory)
    store.remove_stale_temporaries(directory)
    tallies: dict[int, dict[str, Tally]] = {}
    todo = []
    for index, _, experiment in plan.points:
        key = store.point_key(experiment)
        saved = store.read_point(directory, key)
        if saved is not None and list(saved) == list(experiment.evaluated_scenarios):
            tallies[index] = saved
            if on_point is not None:
                on_point(0)
        else:
            todo.append((index, key, experiment))
    reused = len(tallies)
    executor = SerialExecutor() if executor is None else executor
    # Tasks of about task_seconds, but at least 4 per worker when there are enough points.
    total_work = sum(_work(experiment) for _, _, experiment in todo)
    batch_work = min(
        executor.task_seconds * ROLLOUT_STEPS_PER_SECOND,
        total_work / (4 * executor.parallelism),
    )
    units = _units(todo, executor.parallelism)
    tasks = _batches(units, batch_work, chunk_rollouts)
    for results in executor.map_unordered(run_task, tasks):
        for index, key, point_tallies in results:
            store.write_point(directory, key, point_tallies)
            tallies[index] = point_tallies
            if on_point is not None:
                on_point(next(iter(point_tallies.values())).n_rollouts)
    return _write_results(plan, directory, tallies, reused)


def clear(directory: Path) -> None:
    """Delete a sweep's saved points and Parquet files (``--fresh``); keep anything else."""
    for name in (store.POINTS, store.SUMMARY, store.STAGES):
        target = directory / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _work(experiment: Experiment) -> float:
    """Rollout-steps summed over scenarios: a point's cost, for batching."""
    scenarios = len(experiment.evaluated_scenarios)
    return float(experiment.rollouts) * experiment.policy.n_steps * scenarios


def _units(todo: list[Point], parallelism: int) -> list[tuple[Point, ...]]:
    """Group points that can share paths, in order of first appearance.

    Points share when they differ only in error thresholds (:func:`shared_key`) and
    their thresholds are nested; a group is split into nested chains, and each chain
    into pieces of at most :data:`MAX_SHARED`, and into at least ``parallelism`` pieces
    when it is large enough, so that workers share it.
    """
    groups: dict[str | int, list[Point]] = {}
    for item in todo:
        key = shared_key(item[2])
        groups.setdefault(item[0] if key is None else key, []).append(item)
    units = []
    for items in groups.values():
        for chain in _nested_chains(items):
            size = max(1, min(MAX_SHARED, -(-len(chain) // parallelism)))
            units += [tuple(chain[i : i + size]) for i in range(0, len(chain), size)]
    return units


def _nested_chains(items: list[Point]) -> list[list[Point]]:
    """Split points into chains whose error limits grow step by step along each chain."""
    if len(items) == 1:
        return [items]
    limits = np.stack([plan_policy(item[2].policy).error_threshold for item in items])
    remaining = list(np.lexsort(limits.T[::-1]))
    chains = []
    while remaining:
        chain, rest = [remaining[0]], []
        for index in remaining[1:]:
            (chain if (limits[index] >= limits[chain[-1]]).all() else rest).append(index)
        chains.append([items[i] for i in sorted(chain)])
        remaining = rest
    return chains


def _batches(
    units: list[tuple[Point, ...]], batch_work: float, chunk_rollouts: int | None
) -> Iterator[PointTask]:
    """Group units into tasks of at least ``batch_work`` rollout-steps (one unit if 0).

    A unit of shared settings costs about one point (measured: 10 settings on shared
    paths take 1.1 to 2.4 times one setting), counted here as one point per 4 settings.
    """
    batch: list[tuple[Point, ...]] = []
    work = 0.0
    for unit in units:
        batch.append(unit)
        work += _work(unit[0][2]) * max(1.0, len(unit) / 4)
        if work >= batch_work:
            yield PointTask(tuple(batch), chunk_rollouts)
            batch, work = [], 0.0
    if batch:
        yield PointTask(tuple(batch), chunk_rollouts)


def _write_results(
    plan: SweepPlan, directory: Path, tallies: dict[int, dict[str, Tally]], reused: int
) -> SweepResult:
    summary: list[dict[str, Any]] = []
    stages: list[dict[str, Any]] = []
    for index, values, experiment in plan.points:
        estimate = estimate_experiment(experiment, tallies[index])
        summary += store.summary_rows(index, values, estimate, experiment.policy.n_steps)
        stages += store.stage_rows(index, estimate)
    sweep_file, base = plan.sweep_file, plan.base
    metadata = {
        "version": __version__,
        "seed": str(base.seed),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "experiment_path": sweep_file.path,
        "experiment_file": sweep_file.text,
        "config": base.model_dump_json(),
        "axes": json.dumps(list(sweep_file.axes)),
        "scenarios": json.dumps(list(base.evaluated_scenarios)),
        "healthy_scenario": base.healthy_scenario,
    }
    summary_path = directory / store.SUMMARY
    stages_path = directory / store.STAGES
    store.write_parquet(store.summary_frame(summary, sweep_file.axes), summary_path, metadata)
    store.write_parquet(store.stages_frame(stages), stages_path, metadata)
    return SweepResult(directory, summary_path, stages_path, len(plan.points), reused)
