"""Deterministic array kernels: draws in, per-rollout outcomes out. No randomness here.

``observe`` turns standardised noise into what the rollout controller sees; a rule
(``decide_threshold``) turns those observations into outcomes. Both are pure functions
of arrays with the rollouts on axis 0 and the evaluation steps on axis 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from canary_mc.engine.core.outcomes import REASON_ERROR, REASON_LATENCY, REASON_NONE, Outcomes
from canary_mc.engine.core.schedule import PolicyPlan, WorldPlan
from canary_mc.engine.noise.draws import GaussianDraws


@dataclass(frozen=True)
class Observations:
    """What the controller sees at every step: canary minus baseline.

    Attributes
    ----------
    error_delta : ndarray of float64, shape (n_rollouts, n_steps)
        Observed canary error rate minus the baseline error rate (fraction).
    latency_delta_ms : ndarray of float64, shape (n_rollouts, n_steps)
        Observed canary latency minus the baseline latency (ms).
    """

    error_delta: np.ndarray
    latency_delta_ms: np.ndarray


def observe(draws: GaussianDraws, world: WorldPlan, *, clamp: bool = True) -> Observations:
    """Observed deltas under the Gaussian model.

    The canary's observed rate is ``max(0, base + effect + sigma * z)``; its delta from
    the baseline is computed as ``max(effect + sigma * z, -base)``, which is the same
    number without the round trip through ``base``. So a noise-free effect exactly at
    a threshold is not pushed over it by floating-point rounding.

    Parameters
    ----------
    draws : GaussianDraws
        Arrays of shape ``(n_rollouts, n_steps)``.
    world : WorldPlan
        Effects of shape ``(n_steps,)``.
    clamp : bool
        Apply the ``max(..., -base)`` clamp. Decisions against thresholds ``>= 0`` do not
        need it: a clamped delta is ``-base <= 0 <= threshold`` and passes, and so does
        the unclamped value below it. The engine skips it for speed; the trace and the
        scalar reference keep it, and the reference tests hold the two paths equal.

    Returns
    -------
    Observations
        Arrays of shape ``(n_rollouts, n_steps)``.
    """
    error_effect, latency_effect = world.error_effect, world.latency_effect_ms
    if world.intermittent_q < 1:
        # An intermittent fault is present at a step with probability q (shape (n, n_steps)).
        present = draws.presence_u < world.intermittent_q
        error_effect = np.where(present, error_effect, 0.0)
        latency_effect = np.where(present, latency_effect, 0.0)
    error_delta = world.error_sigma * draws.error_z
    error_delta += error_effect
    latency_delta = world.latency_sigma_ms * draws.latency_z
    latency_delta += latency_effect
    if clamp:
        np.maximum(error_delta, -world.error_rate, out=error_delta)
        np.maximum(latency_delta, -world.latency_ms, out=latency_delta)
    return Observations(error_delta=error_delta, latency_delta_ms=latency_delta)


def decide_threshold(observations: Observations, policy: PolicyPlan) -> Outcomes:
    """The seed's rule: roll back at the first step where a delta strictly exceeds its limit.

    At a step where both limits are exceeded the reason is ``error``: the seed checks the
    error rate first.

    Parameters
    ----------
    observations : Observations
        Arrays of shape ``(n_rollouts, n_steps)``.
    policy : PolicyPlan
        Thresholds of shape ``(n_steps,)``.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    error_fails = observations.error_delta > policy.error_threshold
    fails = observations.latency_delta_ms > policy.latency_threshold_ms
    fails |= error_fails
    return first_failure(fails, error_fails, policy)


def first_failure(fails: np.ndarray, error_fails: np.ndarray, policy: PolicyPlan) -> Outcomes:
    """Outcomes of rolling back at each rollout's first failing step.

    Parameters
    ----------
    fails : ndarray of bool, shape (n_rollouts, n_steps)
        A check failed at that step (any metric).
    error_fails : ndarray of bool, shape (n_rollouts, n_steps)
        The error check failed; at a step where both failed the reason is ``error``,
        because the seed checks the error rate first.
    policy : PolicyPlan

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    first = fails.argmax(axis=1)
    rows = np.arange(first.shape[0])
    rolled_back = fails[rows, first]
    reason = np.where(error_fails[rows, first], REASON_ERROR, REASON_LATENCY).astype(np.int8)
    return Outcomes(
        rolled_back=rolled_back,
        decision_step=np.where(rolled_back, first, -1),
        decision_stage=np.where(rolled_back, policy.stage_index[first], -1),
        reason=np.where(rolled_back, reason, REASON_NONE).astype(np.int8),
        steps_run=np.where(rolled_back, first + 1, policy.n_steps),
    )


def threshold_first_failures(
    draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan
) -> np.ndarray:
    """The engine's fused kernel for tallies: first failures per step, no per-rollout output.

    Same comparisons as ``decide_threshold(observe(draws, world), policy)``, counted
    straight into a histogram.

    Returns
    -------
    ndarray of int64, shape (2, n_steps)
        Rollouts whose first failure is at each step, by reason (0 error, 1 latency).
    """
    observed = observe(draws, world, clamp=False)
    error_fails = observed.error_delta > policy.error_threshold
    fails = observed.latency_delta_ms > policy.latency_threshold_ms
    fails |= error_fails
    first = fails.argmax(axis=1)
    rows = np.arange(first.shape[0])
    hit = fails[rows, first]
    latency = ~error_fails[rows, first]
    n_steps = fails.shape[1]
    cells = first[hit] + n_steps * latency[hit]
    return np.bincount(cells, minlength=2 * n_steps).reshape(2, n_steps)


def rollout_outcomes(draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan) -> Outcomes:
    """The engine's kernel: draws of shape ``(n_rollouts, policy.max_steps)`` to outcomes.

    For the ``threshold`` rule, identical to ``decide_threshold(observe(draws, world),
    policy)``; it skips the clamp, which cannot change a decision (see :func:`observe`).
    Other rules are in :mod:`canary_mc.engine.rules.rules_gaussian`.
    """
    if policy.rule.kind != "threshold":
        from canary_mc.engine.rules.rules_gaussian import decide_rule  # rules build on this module

        return decide_rule(draws, world, policy)
    return decide_threshold(observe(draws, world, clamp=False), policy)
