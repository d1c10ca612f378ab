"""Per-rollout outcomes, and their exact integer tally."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from canary_mc.stats.tally import BlastTally, Tally

REASON_NONE = 0
REASON_ERROR = 1
REASON_LATENCY = 2
REASON_NO_DATA = 3
REASONS = ("none", "error", "latency", "no_data")
"""Names of the reason codes, indexed by code."""


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
        :data:`REASON_ERROR`, :data:`REASON_LATENCY`, :data:`REASON_NO_DATA` (a step
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


def tally_outcomes(outcomes: Outcomes, n_stages: int, blast: BlastTally | None = None) -> Tally:
    """Count a batch of outcomes (arrays of shape ``(n_rollouts,)``) into a :class:`Tally`.

    ``blast`` carries the counts model's blast-radius sums for the same rollouts.
    """
    by_stage = np.bincount(outcomes.decision_stage[outcomes.rolled_back], minlength=n_stages)
    steps = outcomes.steps_run.astype(np.int64)
    return Tally(
        n_rollouts=outcomes.n_rollouts,
        rollbacks=int(np.count_nonzero(outcomes.rolled_back)),
        rollbacks_by_stage=tuple(int(c) for c in by_stage),
        error_rollbacks=int(np.count_nonzero(outcomes.reason == REASON_ERROR)),
        latency_rollbacks=int(np.count_nonzero(outcomes.reason == REASON_LATENCY)),
        steps_sum=int(steps.sum()),
        steps_sq_sum=int((steps * steps).sum()),
        no_data_rollbacks=int(np.count_nonzero(outcomes.reason == REASON_NO_DATA)),
        blast=blast,
    )


def tally_first_failures(
    first_failures: np.ndarray, n_rollouts: int, stage_index: np.ndarray, n_stages: int
) -> Tally:
    """A :class:`Tally` from the histogram of first failures, for fixed-schedule rules.

    Parameters
    ----------
    first_failures : ndarray of int64, shape (2, n_steps)
        Rollouts rolled back at each step: row 0 for the error check, row 1 for latency.
    n_rollouts : int
        All rollouts counted, rolled back or not; the others ran every step.
    stage_index : ndarray of int, shape (n_steps,)
        Stage of each step.
    n_stages : int
    """
    n_steps = first_failures.shape[1]
    errors, latency = first_failures
    failures = errors + latency
    rollbacks = int(failures.sum())
    completed = n_rollouts - rollbacks
    steps = np.arange(1, n_steps + 1, dtype=np.int64)
    by_stage = np.bincount(stage_index, weights=failures, minlength=n_stages)
    return Tally(
        n_rollouts=n_rollouts,
        rollbacks=rollbacks,
        rollbacks_by_stage=tuple(int(c) for c in by_stage),
        error_rollbacks=int(errors.sum()),
        latency_rollbacks=int(latency.sum()),
        steps_sum=int((steps * failures).sum()) + n_steps * completed,
        steps_sq_sum=int((steps * steps * failures).sum()) + n_steps * n_steps * completed,
    )


REASON_OF_CODE = np.array(
    [REASON_NONE, REASON_ERROR, REASON_LATENCY, REASON_ERROR] + [REASON_NO_DATA] * 4,
    np.int8,
)
"""Reason of a step's failure code: bit 0 the error check, bit 1 latency (both: error,
because the seed checks the error rate first), 4 a step without data (``no_data: fail``)."""


def first_coded_failure(code: np.ndarray, policy_plan: Any) -> Outcomes:
    """Outcomes of rolling back at each rollout's first step with a non-zero failure code.

    Parameters
    ----------
    code : ndarray of uint8, shape (n_rollouts, n_steps)
        Failure codes, see :data:`REASON_OF_CODE`.
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
        reason=REASON_OF_CODE[first_code],
        steps_run=np.where(rolled_back, first + 1, policy_plan.n_steps),
    )
