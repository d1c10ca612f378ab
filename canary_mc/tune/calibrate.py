"""Calibrated z-test boundaries: the critical value that makes the real size ``alpha``.

The textbook corrections (Pocock, O'Brien-Fleming) assume equal, normal increments; on
a counts plan such as 1/5/25/50% of 2,000 requests per step the z statistic's increments
are neither, so the rule's real false-alarm rate misses ``alpha``. ``correction:
calibrated`` instead simulates the healthy canary on the file's own traffic plan and
finds the constant critical value ``c`` (the same at every look, Pocock's shape) at
which the whole rule (every analysis and every metric) rolls back a healthy canary at
rate ``alpha``. It is the tuning engine applied to one knob: the false-alarm rate is
monotone in ``c`` on common random numbers, so bisection on ``c`` converges.

Calibration runs on its own rollouts (seed derived from the file's seed and stream
:data:`CALIBRATION_STREAM`), so the rollouts a later run reports are independent of the
ones that set ``c``: the reported rate is an honest estimate of the real size.
"""

from __future__ import annotations

from statistics import NormalDist

from canary_mc.engine.simulate import tally_experiment
from canary_mc.model import Experiment
from canary_mc.tune.search import derived_seed

CALIBRATION_STREAM = "tune/calibration/ztest/v1"
"""Names the calibration rollouts (part of the reproducibility contract)."""

CALIBRATION_ROLLOUTS = 40_000
"""Healthy rollouts per calibration (the size is then within about +-0.002 at 5%)."""

ITERATIONS = 24
"""Bisection steps on ``c``: a bracket of width 6 narrows below 1e-6."""


def needs_calibration(experiment: Experiment) -> bool:
    """The rule is a calibrated z-test without its critical value yet."""
    rule = experiment.policy.rule
    return rule.kind == "ztest" and rule.correction == "calibrated" and rule.critical_value is None


def calibrate_experiment(
    experiment: Experiment, *, rollouts: int = CALIBRATION_ROLLOUTS
) -> Experiment:
    """``experiment`` with its calibrated z-test's ``critical_value`` set.

    Unchanged when :func:`needs_calibration` is false.

    Parameters
    ----------
    experiment : Experiment
    rollouts : int
        Healthy rollouts simulated per bisection step (the same ones every step).

    Returns
    -------
    Experiment
        With ``policy.rule.critical_value`` = the smallest ``c`` found whose simulated
        false-alarm rate is at most ``policy.rule.alpha``.
    """
    if not needs_calibration(experiment):
        return experiment
    rule = experiment.policy.rule
    healthy = experiment.healthy_scenario
    probe = experiment.model_copy(
        update={
            "scenarios": {k: v for k, v in experiment.scenarios.items() if k == healthy},
            "seed": derived_seed(experiment.seed, CALIBRATION_STREAM),
            "rollouts": rollouts,
        }
    )

    def with_c(target: Experiment, c: float) -> Experiment:
        policy = target.policy.model_copy(
            update={"rule": rule.model_copy(update={"critical_value": c})}
        )
        return target.model_copy(update={"policy": policy})

    def rate(c: float) -> float:
        tally = next(iter(tally_experiment(with_c(probe, c)).values()))
        return tally.rollbacks / tally.n_rollouts

    lo = NormalDist().inv_cdf(1 - rule.alpha)  # one look's value: size >= alpha
    hi = lo + 6.0
    for _ in range(ITERATIONS):
        mid = 0.5 * (lo + hi)
        if rate(mid) > rule.alpha:
            lo = mid
        else:
            hi = mid
    return with_c(experiment, float(f"{hi:.6g}"))
