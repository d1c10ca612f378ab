"""Deterministic array kernels of the Gaussian model: draws in, outcomes out. No randomness.

``observe`` turns standardised noise into each signal's observed delta (canary minus
baseline: the error rate, latency, every gauge); :func:`metric_value` turns a signal's
delta into what a metric compares with its limits (``absolute``, ``delta`` or ``ratio``,
in the metric's unit); ``decide_threshold`` turns those into outcomes. All are pure
functions of arrays with the rollouts on axis 0 and the evaluation steps on axis 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from canary_mc.engine.core.outcomes import Outcomes, first_coded_failure, metric_codes
from canary_mc.engine.core.schedule import PolicyPlan, WorldPlan
from canary_mc.engine.noise.draws import GaussianDraws
from canary_mc.model.metrics import MetricCheck


@dataclass(frozen=True)
class Observations:
    """What the controller sees at every step: each signal's canary minus baseline.

    Attributes
    ----------
    error_delta : ndarray of float64, shape (n_rollouts, n_steps), or None
        Observed canary error rate minus the baseline error rate (fraction); ``None``
        when not drawn (no metric reads it).
    latency_delta_ms : ndarray of float64, shape (n_rollouts, n_steps), or None
        Observed canary latency minus the baseline latency (ms), likewise.
    gauge_delta : dict of str to ndarray of float64, shape (n_rollouts, n_steps)
        Observed canary gauge minus its healthy value, per gauge drawn.
    clamped : bool
        Whether the error and latency deltas carry the ``max(..., -base)`` clamp.
    """

    error_delta: np.ndarray | None
    latency_delta_ms: np.ndarray | None
    gauge_delta: dict[str, np.ndarray] = field(default_factory=dict)
    clamped: bool = True


def observe(draws: GaussianDraws, world: WorldPlan, *, clamp: bool = True) -> Observations:
    """Observed deltas under the Gaussian model.

    The canary's observed rate is ``max(0, base + effect + sigma * z)``; its delta from
    the baseline is computed as ``max(effect + sigma * z, -base)``, which is the same
    number without the round trip through ``base``. So a noise-free effect exactly at
    a threshold is not pushed over it by floating-point rounding. Gauges are not clamped.

    Parameters
    ----------
    draws : GaussianDraws
        Arrays of shape ``(n_rollouts, n_steps)``.
    world : WorldPlan
        Effects of shape ``(n_steps,)``.
    clamp : bool
        Apply the ``max(..., -base)`` clamp. Decisions of a ``delta`` limit ``>= 0`` on
        the error rate or latency do not need it: a clamped delta is
        ``-base <= 0 <= threshold`` and passes, and so does the unclamped value below
        it. The engine skips it there for speed (:func:`clamp_free`); the trace and the
        scalar reference keep it, and the reference tests hold the two paths equal.

    Returns
    -------
    Observations
        Arrays of shape ``(n_rollouts, n_steps)``.
    """
    error_effect, latency_effect = world.error_effect, world.latency_effect_ms
    present = None
    if world.intermittent_q < 1:
        # An intermittent fault is present at a step with probability q (shape (n, n_steps)).
        present = draws.presence_u < world.intermittent_q
        error_effect = np.where(present, error_effect, 0.0)
        latency_effect = np.where(present, latency_effect, 0.0)
    error_delta = latency_delta = None
    if draws.error_z is not None:
        error_delta = world.error_sigma * draws.error_z
        error_delta += error_effect
        if clamp:
            np.maximum(error_delta, -world.error_rate, out=error_delta)
    if draws.latency_z is not None:
        latency_delta = world.latency_sigma_ms * draws.latency_z
        latency_delta += latency_effect
        if clamp:
            np.maximum(latency_delta, -world.latency_ms, out=latency_delta)
    gauges = {}
    for name, z in draws.gauge_z.items():
        delta = world.gauges[name][1] * z
        effect = world.gauge_effect.get(name)
        if effect is not None:
            delta += effect if present is None else np.where(present, effect, 0.0)
        gauges[name] = delta
    return Observations(
        error_delta=error_delta, latency_delta_ms=latency_delta, gauge_delta=gauges, clamped=clamp
    )


def signal_params(world: WorldPlan, check: MetricCheck) -> tuple[float, float]:
    """The healthy value and per-step noise sd of the signal a metric reads."""
    if check.signal == "rate":
        return world.error_rate, world.error_sigma
    if check.signal == "latency":
        return world.latency_ms, world.latency_sigma_ms
    return world.gauges[check.name]


def signal_of_check(
    obs: Observations, world: WorldPlan, check: MetricCheck
) -> tuple[np.ndarray, float, float]:
    """The signal a metric reads: its observed delta, its healthy value, and its noise sd."""
    if check.signal == "rate":
        delta = obs.error_delta
    elif check.signal == "latency":
        delta = obs.latency_delta_ms
    else:
        delta = obs.gauge_delta[check.name]
    return (delta, *signal_params(world, check))


def metric_value(delta: np.ndarray, base: float, check: MetricCheck, *, clamp: bool) -> np.ndarray:
    """What a metric compares with its limits, from its signal's observed delta.

    Parameters
    ----------
    delta : ndarray of float64
        The signal's canary minus baseline (any shape).
    base : float
        The signal's healthy value (the Gaussian model knows the baseline).
    check : MetricCheck
    clamp : bool
        Clamp the canary's rate or latency at 0 (``delta >= -base``); gauges never.

    Returns
    -------
    ndarray of float64, same shape
        ``delta`` (canary minus baseline), ``absolute`` (the canary's value) or ``ratio``
        (canary over baseline; 0/0 is 1), for a success rate of ``1 - error rate``, in
        the metric's unit (rates times 100 in percent).
    """
    if clamp and check.kind != "gauge":
        delta = np.maximum(delta, -base)
    success = check.kind == "success_rate"
    if check.compare == "delta":
        value = -delta if success else delta
    else:
        canary = base + delta
        if success:
            canary, base = 1.0 - canary, 1.0 - base
        if check.compare == "absolute":
            value = canary
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                value = canary / base
            value = np.where(np.isnan(value), 1.0, value)
            return value  # a ratio has no unit
    if check.unit != 1:
        value = value * float(check.unit)
    return value


def metric_values(obs: Observations, world: WorldPlan, policy: PolicyPlan) -> list[np.ndarray]:
    """Per metric, its compared value at each step, shape ``(n_rollouts, n_steps)`` (the
    clamp left out where it cannot change the check)."""
    values = []
    for limits in policy.metrics:
        delta, base, _ = signal_of_check(obs, world, limits.check)
        clamp = not (obs.clamped or limits.unclamped)
        values.append(metric_value(delta, base, limits.check, clamp=clamp))
    return values


def metric_fails(obs: Observations, world: WorldPlan, policy: PolicyPlan) -> list[np.ndarray]:
    """Per metric, does its check fail at each step? Arrays of shape ``(n_rollouts, n_steps)``."""
    values = metric_values(obs, world, policy)
    return [limits.fails(v) for limits, v in zip(policy.metrics, values, strict=True)]


def decide_threshold(observations: Observations, world: WorldPlan, policy: PolicyPlan) -> Outcomes:
    """The seed's rule: roll back at the first step where a metric's check fails.

    At a step where several metrics fail the reason is the first of them (the seed
    checks the error rate before latency).

    Parameters
    ----------
    observations : Observations
        Arrays of shape ``(n_rollouts, n_steps)``.
    world : WorldPlan
    policy : PolicyPlan
        Limits of shape ``(n_steps,)``.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    return first_coded_failure(metric_codes(metric_fails(observations, world, policy)), policy)


def threshold_first_failures(
    draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan
) -> np.ndarray:
    """The engine's fused kernel for tallies: first failures per step, no per-rollout output.

    Same comparisons as ``decide_threshold(observe(draws, world), world, policy)``,
    counted straight into a histogram.

    Returns
    -------
    ndarray of int64, shape (n_metrics, n_steps)
        Rollouts whose first failure is at each step, by the first metric failing there.
    """
    observed = observe(draws, world, clamp=False)
    by_metric = metric_fails(observed, world, policy)
    n_metrics = len(by_metric)
    # OR into the last metric's own array (fresh from its comparison, not read again).
    fails = by_metric[-1]
    for more in by_metric[:-1]:
        fails |= more
    first = fails.argmax(axis=1)
    rows = np.arange(first.shape[0])
    hit = fails[rows, first]
    n_steps = fails.shape[1]
    cells = first[hit]
    if n_metrics > 1:
        # The reason is the first metric failing at the first failing step: the number
        # of metrics before it that do not fail there.
        not_yet = ~by_metric[0][rows, first]
        reason = not_yet.astype(np.intp)
        for m in range(1, n_metrics - 1):
            not_yet &= ~by_metric[m][rows, first]
            reason += not_yet
        cells = cells + n_steps * reason[hit]
    return np.bincount(cells, minlength=n_metrics * n_steps).reshape(n_metrics, n_steps)


def gaussian_threshold(draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan) -> Outcomes:
    """The ``threshold`` rule on draws of shape ``(n_rollouts, n_steps)``: identical to
    ``decide_threshold(observe(draws, world), world, policy)``; it skips the clamp where
    it cannot change a decision (see :func:`observe`)."""
    return decide_threshold(observe(draws, world, clamp=False), world, policy)
