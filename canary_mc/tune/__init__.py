"""``canary-mc tune``: the best policy for a false-alarm budget, to a stated precision.

:func:`tune_file` is the core of the command: knobs (sweep paths) in, a
:class:`~canary_mc.tune.search.TuneResult` out. :mod:`.search` holds the search,
:mod:`.precision` the adaptive stopping rule shared with ``run``, :mod:`.calibrate` the
calibrated z-test boundary, :mod:`.plot` the trade-off figure. See ``docs/tune.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from canary_mc.errors import ConfigError
from canary_mc.io.experiment_file import SweepFile
from canary_mc.model import Experiment
from canary_mc.stats.intervals import CONFIDENCE
from canary_mc.tune.calibrate import calibrate_experiment
from canary_mc.tune.knobs import Knob, default_knob_paths, parse_knob
from canary_mc.tune.precision import (
    check_precision,
    look_confidence,
    look_schedule,
    widest_half_width,
)
from canary_mc.tune.search import Evaluator, TuneResult, parse_objective, tune

__all__ = ["TunedRun", "tune_file"]

CURVE_POINTS = 12
"""Settings of the trade-off plot's curve (one continuous knob)."""


@dataclass(frozen=True)
class TunedRun:
    """A tuning and, under adaptive precision, how many rollouts it took.

    Attributes
    ----------
    result : TuneResult
    precision : float or None
        The half-width asked for; ``None`` for a fixed number of rollouts.
    half_width : float or None
        The chosen setting's widest reported half-width.
    reached : bool
    looks : tuple of int
    """

    result: TuneResult
    precision: float | None
    half_width: float | None
    reached: bool
    looks: tuple[int, ...]


def tune_file(
    sweep_file: SweepFile,
    *,
    budget: float,
    knob_specs: Sequence[str] = (),
    maximize: str = "mean",
    rollouts: int | None = None,
    seed: int | None = None,
    precision: float | None = None,
    max_rollouts: int | None = None,
    curve: bool = False,
) -> TunedRun:
    """Tune an experiment file's knobs to a false-alarm budget.

    Parameters
    ----------
    sweep_file : SweepFile
        The loaded file (its sweep section, if any, is ignored).
    budget : float
        False-alarm budget, a fraction (0.01 = 1%).
    knob_specs : sequence of str
        ``PATH`` or ``PATH=LO:HI``; none: the rule's natural knob.
    maximize : str
        ``mean``, a scenario name, or ``name:weight,...``.
    rollouts, seed : int, optional
        Override the file's; ``rollouts`` is per evaluation (without ``precision``).
    precision, max_rollouts : optional
        Adaptive precision (``precision`` of the file unless given): the whole tuning
        is repeated on the looks of :func:`~canary_mc.tune.precision.look_schedule`
        until the chosen setting's every reported rate has half-width ``<= precision``.
    curve : bool
        Also evaluate the trade-off curve on every scenario (for the plot).

    Returns
    -------
    TunedRun
    """
    experiment = sweep_file.experiment
    seed = experiment.seed if seed is None else seed
    specs = list(knob_specs) or default_knob_paths(experiment)
    knobs: list[Knob] = []
    current = {}
    for spec in specs:
        path = spec.partition("=")[0]
        default = _model_value(experiment, path)
        current[path] = sweep_file.value_at(path, default)
        knobs.append(parse_knob(spec, {}, current[path]))
    paths = [k.path for k in knobs]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"--knob: each path at most once, got {', '.join(paths)}")
    objective = parse_objective(maximize, experiment)

    def build(values: dict) -> Experiment:
        # A calibrated z-test is calibrated at every candidate (its size depends on it).
        return calibrate_experiment(sweep_file.with_values(values))

    precision = experiment.precision if precision is None else precision
    curve_points = CURVE_POINTS if curve else 0
    cap = max_rollouts if max_rollouts is not None else experiment.max_rollouts
    looks = look_schedule(cap) if precision is not None else ()
    confidence = look_confidence(len(looks)) if precision is not None else CONFIDENCE

    def tune_at(
        n: int, previous: TuneResult | None = None, probe: Evaluator | None = None
    ) -> TuneResult:
        crossing = None if previous is None or previous.best is None else previous.best.crossing
        return tune(
            evaluator=probe,
            hint=None if crossing is None else crossing.interval,
            build=build,
            knobs=knobs,
            current=current,
            budget=budget,
            objective=objective,
            rollouts=n,
            seed=seed,
            confidence=confidence,
            curve_points=curve_points,
        )

    if precision is None:
        n = experiment.rollouts if rollouts is None else rollouts
        result = tune_at(n)
        return TunedRun(result, None, None, result.best is not None, (n,))
    check_precision(precision, cap)
    # The stopping rule judges the setting chosen at the previous look, re-estimated on
    # this look's rollouts (cheap: one evaluation); only at the stopping look is the
    # search run again, and its choice must pass the same test, else the looks go on.
    # Every step is a function of the seed's rollouts, so the stop is reproducible.
    result = tune_at(looks[0])
    width = None if result.best is None else _widest(result)
    for n in looks[1:]:
        if width is not None and width <= precision:
            break
        probe = Evaluator(build, rollouts=n, seed=seed, confidence=confidence)
        if result.best is not None and n != looks[-1]:
            if widest_half_width(probe.estimate(result.best.values)) > precision:
                continue
        result = tune_at(n, result, probe)
        width = None if result.best is None else _widest(result)
    reached = width is not None and width <= precision
    return TunedRun(result, precision, width, reached, looks)


def _widest(result: TuneResult) -> float:
    assert result.best is not None
    return widest_half_width(result.best.estimate)


def _model_value(experiment, path: str):
    """A knob's value in the validated experiment (its default when the file omits it)."""
    node = experiment.model_dump()
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node
