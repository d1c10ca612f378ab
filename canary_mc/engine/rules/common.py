"""Steps every rule kernel shares, on either noise model, written once."""

from __future__ import annotations

import numpy as np

from canary_mc.engine.core.schedule import PolicyPlan
from canary_mc.model.metrics import MetricCheck
from canary_mc.model.rules import FailureLimitRule, SprtRule


def stat_sign(check: MetricCheck) -> float:
    """+1 when the bad change of the metric is an increase of its signal (more errors,
    slower, a higher gauge), -1 when it is a decrease (a success rate falling is the
    error signal rising: +1)."""
    return 1.0 if check.bad_is_increase else -1.0


def sprt_effect(check: MetricCheck, rule: SprtRule) -> float:
    """H1's change of a metric, in its signal's units (rates as fractions)."""
    if check.min_effect is not None:
        return check.min_effect / float(check.unit)
    if check.signal == "rate":
        return rule.min_error_increase
    return rule.min_latency_increase_ms


def segments(scope: str, policy: PolicyPlan) -> list[tuple[int, int]]:
    """Step ranges ``[a, b)`` of the analyses: one per stage, or the whole rollout."""
    if scope == "rollout":
        return [(0, policy.n_steps)]
    starts = np.flatnonzero(policy.step_in_stage == 0).tolist()
    return list(zip(starts, [*starts[1:], policy.n_steps], strict=True))


# --- failure_limit (Argo Rollouts) -------------------------------------------------------


def analysis_stops(
    failed: np.ndarray, inconclusive: np.ndarray, rule: FailureLimitRule, policy: PolicyPlan
) -> np.ndarray:
    """Does a metric's analysis stop at each step: its failures exceed ``failure_limit``
    or its Inconclusive measurements exceed ``inconclusive_limit`` (Argo counts both per
    metric)? Arrays of shape ``(n_rollouts, n_steps)``."""
    stops = failure_counts(failed, rule, policy)
    if inconclusive.any():
        stops |= failure_counts(inconclusive, rule, policy, limit=rule.inconclusive_limit)
    return stops


def failure_counts(
    failed: np.ndarray, rule: FailureLimitRule, policy: PolicyPlan, *, limit: int | None = None
) -> np.ndarray:
    """Does the metric's failure count exceed ``limit`` (default ``failure_limit``) at
    each step?

    ``failed`` has shape ``(n_rollouts, n_steps)``. Counts restart at each stage under
    ``scope: stage``; with ``consecutive`` a pass also restarts them.
    """
    limit = rule.failure_limit if limit is None else limit
    n_steps = policy.n_steps
    step = np.arange(n_steps)
    restart = (
        np.full(n_steps, -1)
        if rule.scope == "rollout"
        else step - policy.step_in_stage - 1  # the step before the stage's first
    )
    if rule.consecutive:
        # Length of the run of failures ending at each step: steps since the last pass.
        last_pass = np.where(failed, -1, step)
        np.maximum.accumulate(last_pass, axis=1, out=last_pass)
        count = step - np.maximum(last_pass, restart)
    else:
        total = np.cumsum(failed, axis=1, dtype=np.int64)
        before = np.where(restart >= 0, total[:, np.maximum(restart, 0)], 0)
        count = total - before
    return count > limit
