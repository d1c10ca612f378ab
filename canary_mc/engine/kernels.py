"""Deterministic array kernels: draws in, per-rollout outcomes out. No randomness here.

``observe`` turns standardised noise into what the rollout controller sees; a rule
(``decide_threshold``) turns those observations into outcomes. Both are pure functions
of arrays with the rollouts on axis 0 and the evaluation steps on axis 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from canary_mc.engine.draws import GaussianDraws
from canary_mc.engine.schedule import PolicyPlan, WorldPlan

REASON_NONE = 0
REASON_ERROR = 1
REASON_LATENCY = 2
REASONS = ("none", "error", "latency")
"""Names of the reason codes, indexed by code."""


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


@dataclass(frozen=True)
class Outcomes:
    """Per-rollout outcome of a batch of rollouts.

    Attributes
    ----------
    rolled_back : ndarray of bool, shape (n_rollouts,)
    decision_step : ndarray of int64, shape (n_rollouts,)
        0-based step at which the rollout was rolled back; -1 if it completed.
    decision_stage : ndarray of int64, shape (n_rollouts,)
        0-based stage of that step; -1 if it completed.
    reason : ndarray of int8, shape (n_rollouts,)
        :data:`REASON_ERROR`, :data:`REASON_LATENCY`, or :data:`REASON_NONE` if completed.
    steps_run : ndarray of int64, shape (n_rollouts,)
        Steps evaluated before the decision: ``decision_step + 1``, or ``n_steps``.
    """

    rolled_back: np.ndarray
    decision_step: np.ndarray
    decision_stage: np.ndarray
    reason: np.ndarray
    steps_run: np.ndarray

    @property
    def n_rollouts(self) -> int:
        return self.rolled_back.shape[0]


def observe(draws: GaussianDraws, world: WorldPlan) -> Observations:
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

    Returns
    -------
    Observations
        Arrays of shape ``(n_rollouts, n_steps)``.
    """
    error_delta = world.error_sigma * draws.error_z
    error_delta += world.error_effect
    np.maximum(error_delta, -world.error_rate, out=error_delta)
    latency_delta = world.latency_sigma_ms * draws.latency_z
    latency_delta += world.latency_effect_ms
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
    first = fails.argmax(axis=1)
    rolled_back = fails[np.arange(first.shape[0]), first]
    error_first = error_fails[np.arange(first.shape[0]), first]
    reason = np.where(
        rolled_back, np.where(error_first, REASON_ERROR, REASON_LATENCY), REASON_NONE
    ).astype(np.int8)
    decision_step = np.where(rolled_back, first, -1)
    return Outcomes(
        rolled_back=rolled_back,
        decision_step=decision_step,
        decision_stage=np.where(rolled_back, policy.stage_index[first], -1),
        reason=reason,
        steps_run=np.where(rolled_back, first + 1, policy.n_steps),
    )
