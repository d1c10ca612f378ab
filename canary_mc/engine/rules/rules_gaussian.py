"""Decision rules beyond the seed's threshold: array kernels over ``(n_rollouts, n_steps)``.

Two families:

- **Fixed schedule** (``failure_limit``, ``ztest``, ``msprt``): every stage runs its
  ``duration_steps``; each rule turns the observed deltas into "metric fires at step
  ``j``" arrays and the first firing step decides, exactly as for ``threshold``.
- **Outcome-dependent schedule** (``cumulative_checks``, ``sprt``): a failing check holds
  the stage, an early SPRT acceptance leaves it. Each rollout carries a stage pointer; the
  kernel loops over steps (never over rollouts), and the rollout's ``t``-th step uses draw
  column ``t`` whatever stage it is in, so draws stay ``(n_rollouts, max_steps)`` and
  chunk-invariant.

The statistic of each rule is computed from per-step evidence (the deltas) and per-look
boundaries (:func:`ztest_bounds`, :func:`msprt_bounds`, :func:`sprt_bounds`) that the
scalar reference (:mod:`canary_mc.reference_rules`) shares; the boundaries themselves are
checked against published values and closed forms in the tests.
"""

from __future__ import annotations

import math

import numpy as np

from canary_mc.engine.core.outcomes import Outcomes, first_coded_failure, metric_codes
from canary_mc.engine.core.schedule import PolicyPlan, WorldPlan
from canary_mc.engine.noise.draws import GaussianDraws
from canary_mc.engine.rules.boundaries import ztest_critical_values
from canary_mc.engine.rules.common import analysis_stops, segments, sprt_effect, stat_sign
from canary_mc.engine.rules.held import HeldFault, StepEvidence, run_held
from canary_mc.engine.rules.kernels import (
    metric_value,
    metric_values,
    observe,
    signal_of_check,
    signal_params,
)
from canary_mc.model.rules import (
    MsprtRule,
    SprtRule,
    ZTestRule,
)

# --- per-look boundaries, shared with the scalar reference -------------------------------


def ztest_bounds(rule: ZTestRule, n_looks: int) -> list[float]:
    """Bounds on the sum of deltas in units of sigma: fire at look ``k`` when
    ``S_k > sigma * bound[k-1]``, i.e. ``Z_k = S_k / (sigma sqrt(k)) > c_k``."""
    c = ztest_critical_values(rule, np.arange(1.0, n_looks + 1))  # equal information
    return [c[k - 1] * math.sqrt(k) for k in range(1, n_looks + 1)]


def msprt_bounds(rule: MsprtRule, n_looks: int) -> list[float]:
    """Bounds on the sum of deltas in units of sigma: the normal-mixture likelihood ratio
    ``(1 + n tau^2)^(-1/2) exp(tau^2 S^2 / (2 sigma^2 (1 + n tau^2)))`` reaches
    ``1/alpha`` with ``S > 0`` exactly when ``S >= sigma * bound[n-1]``."""
    r2 = rule.tau * rule.tau
    return [
        math.sqrt(
            2.0 * (1.0 + n * r2) / r2 * (math.log(1.0 / rule.alpha) + 0.5 * math.log1p(n * r2))
        )
        for n in range(1, n_looks + 1)
    ]


def sprt_bounds(
    rule: SprtRule, sigma: float, increase: float, n_looks: int
) -> tuple[list[float], list[float]]:
    """Wald's boundaries as bounds on the stage's sum of deltas ``S_n`` after ``n`` steps.

    The log-likelihood ratio of ``N(increase, sigma^2)`` against ``N(0, sigma^2)`` is
    ``(increase / sigma^2) (S_n - n increase / 2)``: it reaches ``A = ln((1-beta)/alpha)``
    when ``S_n >= reject[n-1]`` and ``B = ln(beta/(1-alpha))`` when ``S_n <= accept[n-1]``.
    """
    a = math.log((1.0 - rule.beta) / rule.alpha)
    b = math.log(rule.beta / (1.0 - rule.alpha))
    var = sigma * sigma
    reject = [var * a / increase + n * increase / 2.0 for n in range(1, n_looks + 1)]
    accept = [var * b / increase + n * increase / 2.0 for n in range(1, n_looks + 1)]
    return reject, accept


# --- dispatch ------------------------------------------------------------------------------


def gaussian_held(draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan) -> Outcomes:
    """``cumulative_checks`` or ``sprt`` on Gaussian draws of shape
    ``(n_rollouts, policy.max_steps)``: the held-schedule engine with this model's observer."""
    observer = GaussianHeldObserver(draws, world, policy)
    return run_held(policy, HeldFault.of_plans(world, policy), draws.n_rollouts, observer)


def gaussian_failure_limit(draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan) -> Outcomes:
    """``failure_limit`` (Argo Rollouts): each metric's own failure count.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    rule = policy.rule
    obs = observe(draws, world)
    fires = []
    for limits, value in zip(policy.metrics, metric_values(obs, world, policy), strict=True):
        failed = limits.fails(value)
        fires.append(analysis_stops(failed, limits.inconclusive_of(value, failed), rule, policy))
    return first_coded_failure(metric_codes(fires), policy)


def gaussian_sum_test(draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan) -> Outcomes:
    """``ztest`` or ``msprt``: each metric's running sum of deltas (in its bad direction)
    against the rule's per-look boundaries.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    rule = policy.rule
    bounds = ztest_bounds if rule.kind == "ztest" else msprt_bounds
    obs = observe(draws, world)
    fires = []
    for limits in policy.metrics:
        delta, _, sigma = signal_of_check(obs, world, limits.check)
        sign = stat_sign(limits.check)
        fires.append(_sum_test(delta if sign > 0 else -delta, sigma, rule, bounds, policy))
    return first_coded_failure(metric_codes(fires), policy)


# --- ztest and msprt: boundaries on running sums --------------------------------------------


def _sum_test(
    delta: np.ndarray, sigma: float, rule: ZTestRule | MsprtRule, bounds, policy: PolicyPlan
) -> np.ndarray:
    """Fire where the analysis's running sum of deltas crosses ``sigma * bound``."""
    fire = np.empty(delta.shape, dtype=bool)
    for a, b in segments(rule.scope, policy):
        running = np.cumsum(delta[:, a:b], axis=1)
        limit = sigma * np.asarray(bounds(rule, b - a))
        fire[:, a:b] = (
            (running > limit) if rule.kind == "ztest" else ((running > 0) & (running >= limit))
        )
    return fire


# --- cumulative_checks (Flagger) and sprt: the held-schedule engine's Gaussian observer ---


class GaussianHeldObserver:
    """The rollouts' ``t``-th step on Gaussian draws: column ``t`` of every draw, the
    fault at each rollout's own stage (:class:`HeldFault`), clamped deltas."""

    keep_drawing = False

    def __init__(self, draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan) -> None:
        self.draws, self.world, self.policy = draws, world, policy
        self.fault = HeldFault.of_plans(world, policy)

    def step(
        self, t: int, stage: np.ndarray, onset: np.ndarray, active: np.ndarray
    ) -> StepEvidence:
        draws, world, fault = self.draws, self.world, self.fault
        presence = None if draws.presence_u is None else draws.presence_u[:, t]
        present, since = fault.present(t, stage, onset, presence)
        effect_e, effect_l = fault.gaussian_effects(present, since, world)
        signals = {}
        if draws.error_z is not None:
            signals["rate"] = np.maximum(
                effect_e + world.error_sigma * draws.error_z[:, t], -world.error_rate
            )
        if draws.latency_z is not None:
            signals["latency"] = np.maximum(
                effect_l + world.latency_sigma_ms * draws.latency_z[:, t], -world.latency_ms
            )
        for name, z in draws.gauge_z.items():
            mean, sigma = world.gauges[name]
            signals[name] = fault.gauge_effect(name, mean, present, since) + sigma * z[:, t]
        deltas = [
            signals[limits.check.name if limits.check.kind == "gauge" else limits.check.signal]
            for limits in self.policy.metrics
        ]
        if self.policy.rule.kind == "cumulative_checks":
            fails = []
            for limits, delta in zip(self.policy.metrics, deltas, strict=True):
                base, _ = signal_params(world, limits.check)
                value = metric_value(delta, base, limits.check, clamp=False)
                fails.append(limits.fails(value, stage))
            return StepEvidence(fails=fails)
        return StepEvidence(
            increments=[
                delta if stat_sign(limits.check) > 0 else -delta
                for limits, delta in zip(self.policy.metrics, deltas, strict=True)
            ]
        )

    def sprt_bounds(self, metric: int, looks: int) -> tuple[np.ndarray, np.ndarray]:
        check = self.policy.metrics[metric].check
        _, sigma = signal_params(self.world, check)
        reject, accept = sprt_bounds(
            self.policy.rule, sigma, sprt_effect(check, self.policy.rule), looks
        )
        return np.asarray(reject), np.asarray(accept)
