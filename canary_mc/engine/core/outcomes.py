"""Per-rollout outcomes, and their exact integer tally."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from canary_mc.stats.tally import BlastTally, Tally

REASON_NONE = 0
REASON_ERROR = 1
REASON_LATENCY = 2
REASON_NO_DATA = 127
"""Reason codes: 0 none; ``1 + m`` for the policy's metric ``m`` (in ``Policy.checks``
order, so the shorthand's ``error`` is 1 and ``latency`` 2); 127 a step without data
(``policy.no_data: fail``)."""


def reason_name(code: int, metric_names: tuple[str, ...]) -> str:
    """The name of a reason code: ``none``, a metric's name, or ``no_data``."""
    if code == REASON_NONE:
        return "none"
    if code == REASON_NO_DATA:
        return "no_data"
    return metric_names[code - 1]


def metric_codes(fires: list[np.ndarray], no_data: np.ndarray | None = None) -> np.ndarray:
    """Failure codes from per-metric "fails at step" arrays: ``1 + m`` for the first
    metric (lowest index: the seed checks the error rate first) failing there, 0 where
    none does, :data:`REASON_NO_DATA` where ``no_data`` (``policy.no_data: fail``).

    Parameters
    ----------
    fires : list of ndarray of bool, each of shape (n_rollouts, n_steps) or (n_rollouts,)
    no_data : ndarray of bool, broadcastable to the same shape, optional

    Returns
    -------
    ndarray of uint8, same shape
    """
    if len(fires) <= 8:
        # Pack the metrics' failures into one byte, then look up the lowest set bit.
        mask = fires[0].view(np.uint8).copy()
        for m in range(1, len(fires)):
            mask |= fires[m].view(np.uint8) << m
        code = _FIRST_BIT[mask]
    else:
        code = np.zeros(fires[0].shape, dtype=np.uint8)
        for m in range(len(fires) - 1, -1, -1):
            code[fires[m]] = m + 1
    if no_data is not None:
        code[np.broadcast_to(no_data, code.shape)] = REASON_NO_DATA
    return code


_FIRST_BIT = np.array([0] + [(mask & -mask).bit_length() for mask in range(1, 256)], dtype=np.uint8)
"""For a byte of failure bits (bit ``m``: metric ``m`` failed), ``1 +`` the lowest set
bit's index, or 0."""


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
        ``1 + m`` for the metric ``m`` that failed, :data:`REASON_NO_DATA` (a step
        without data under ``policy.no_data: fail``), or :data:`REASON_NONE` if completed.
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


def tally_outcomes(
    outcomes: Outcomes, n_stages: int, n_metrics: int, blast: BlastTally | None = None
) -> Tally:
    """Count a batch of outcomes (arrays of shape ``(n_rollouts,)``) into a :class:`Tally`.

    ``n_metrics`` is the number of the policy's metrics (reason codes ``1..n_metrics``);
    ``blast`` carries the counts model's blast-radius sums for the same rollouts.
    """
    by_stage = np.bincount(outcomes.decision_stage[outcomes.rolled_back], minlength=n_stages)
    by_reason = np.bincount(outcomes.reason.astype(np.int64), minlength=REASON_NO_DATA + 1)
    steps = outcomes.steps_run.astype(np.int64)
    return Tally(
        n_rollouts=outcomes.n_rollouts,
        rollbacks=int(np.count_nonzero(outcomes.rolled_back)),
        rollbacks_by_stage=tuple(int(c) for c in by_stage),
        metric_rollbacks=tuple(int(c) for c in by_reason[1 : n_metrics + 1]),
        steps_sum=int(steps.sum()),
        steps_sq_sum=int((steps * steps).sum()),
        no_data_rollbacks=int(by_reason[REASON_NO_DATA]),
        blast=blast,
    )


def tally_first_failures(
    first_failures: np.ndarray, n_rollouts: int, stage_index: np.ndarray, n_stages: int
) -> Tally:
    """A :class:`Tally` from the histogram of first failures, for fixed-schedule rules.

    Parameters
    ----------
    first_failures : ndarray of int64, shape (n_metrics, n_steps)
        Rollouts rolled back at each step, by the metric that failed first.
    n_rollouts : int
        All rollouts counted, rolled back or not; the others ran every step.
    stage_index : ndarray of int, shape (n_steps,)
        Stage of each step.
    n_stages : int
    """
    n_steps = first_failures.shape[1]
    failures = first_failures.sum(axis=0)
    rollbacks = int(failures.sum())
    completed = n_rollouts - rollbacks
    steps = np.arange(1, n_steps + 1, dtype=np.int64)
    by_stage = np.bincount(stage_index, weights=failures, minlength=n_stages)
    return Tally(
        n_rollouts=n_rollouts,
        rollbacks=rollbacks,
        rollbacks_by_stage=tuple(int(c) for c in by_stage),
        metric_rollbacks=tuple(int(c) for c in first_failures.sum(axis=1)),
        steps_sum=int((steps * failures).sum()) + n_steps * completed,
        steps_sq_sum=int((steps * steps * failures).sum()) + n_steps * n_steps * completed,
    )


def first_coded_failure(code: np.ndarray, policy_plan: Any) -> Outcomes:
    """Outcomes of rolling back at each rollout's first step with a non-zero failure code.

    Parameters
    ----------
    code : ndarray of uint8, shape (n_rollouts, n_steps)
        Failure codes, see :func:`metric_codes`.
    policy_plan : PolicyPlan
        Supplies ``stage_index`` and ``n_steps``.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    first = (code != 0).argmax(axis=1)
    first_code = code[np.arange(first.shape[0]), first]
    rolled_back = first_code != 0
    return Outcomes(
        rolled_back=rolled_back,
        decision_step=np.where(rolled_back, first, -1),
        decision_stage=np.where(rolled_back, policy_plan.stage_index[first], -1),
        reason=first_code.astype(np.int8),
        steps_run=np.where(rolled_back, first + 1, policy_plan.n_steps),
    )
