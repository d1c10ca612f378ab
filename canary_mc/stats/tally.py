"""Integer tallies of outcomes: what a chunk contributes, added up exactly across chunks.

The engine fills them (``engine.outcomes.tally_outcomes``); this module knows no arrays.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tally:
    """Sufficient counts for every aggregate of one configuration and scenario.

    Integer counts make the sum over chunks exact, so aggregates do not depend on how the
    rollouts were split.

    Attributes
    ----------
    n_rollouts, rollbacks : int
    rollbacks_by_stage : tuple of int, length n_stages
    error_rollbacks, latency_rollbacks : int
        Rollbacks by reason.
    steps_sum, steps_sq_sum : int
        Sum and sum of squares of ``Outcomes.steps_run``.
    """

    n_rollouts: int
    rollbacks: int
    rollbacks_by_stage: tuple[int, ...]
    error_rollbacks: int
    latency_rollbacks: int
    steps_sum: int
    steps_sq_sum: int

    @classmethod
    def empty(cls, n_stages: int) -> Tally:
        return cls(0, 0, (0,) * n_stages, 0, 0, 0, 0)

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            n_rollouts=self.n_rollouts + other.n_rollouts,
            rollbacks=self.rollbacks + other.rollbacks,
            rollbacks_by_stage=tuple(
                a + b
                for a, b in zip(self.rollbacks_by_stage, other.rollbacks_by_stage, strict=True)
            ),
            error_rollbacks=self.error_rollbacks + other.error_rollbacks,
            latency_rollbacks=self.latency_rollbacks + other.latency_rollbacks,
            steps_sum=self.steps_sum + other.steps_sum,
            steps_sq_sum=self.steps_sq_sum + other.steps_sq_sum,
        )
