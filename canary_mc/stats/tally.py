"""Integer tallies of outcomes: what a chunk contributes, added up exactly across chunks.

The engine fills them (``engine.outcomes.tally_outcomes``); this module knows no arrays.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class BlastTally:
    """Exact sums behind the counts model's blast-radius aggregates.

    Attributes
    ----------
    canary_requests_sum, canary_requests_sq_sum : int
        Sum and sum of squares of the canary requests each rollout served.
    excess_errors_sum, excess_errors_sq_sum : int
        Sum and sum of squares of each rollout's excess errors.
    excess_errors_histogram : tuple of (int, int)
        ``(value, rollouts)`` pairs, sorted by value: the exact distribution of excess
        errors, so its quantiles do not depend on how rollouts were chunked.
    """

    canary_requests_sum: int
    canary_requests_sq_sum: int
    excess_errors_sum: int
    excess_errors_sq_sum: int
    excess_errors_histogram: tuple[tuple[int, int], ...]

    def __add__(self, other: BlastTally) -> BlastTally:
        merged = Counter(dict(self.excess_errors_histogram))
        merged.update(dict(other.excess_errors_histogram))
        return BlastTally(
            canary_requests_sum=self.canary_requests_sum + other.canary_requests_sum,
            canary_requests_sq_sum=self.canary_requests_sq_sum + other.canary_requests_sq_sum,
            excess_errors_sum=self.excess_errors_sum + other.excess_errors_sum,
            excess_errors_sq_sum=self.excess_errors_sq_sum + other.excess_errors_sq_sum,
            excess_errors_histogram=tuple(sorted(merged.items())),
        )


@dataclass(frozen=True)
class Tally:
    """Sufficient counts for every aggregate of one configuration and scenario.

    Integer counts make the sum over chunks exact, so aggregates do not depend on how the
    rollouts were split.

    Attributes
    ----------
    n_rollouts, rollbacks : int
    rollbacks_by_stage : tuple of int, length n_stages
    metric_rollbacks : tuple of int, length n_metrics
        Rollbacks by the metric that failed (``Policy.checks`` order; the shorthand's
        ``error`` then ``latency``).
    steps_sum, steps_sq_sum : int
        Sum and sum of squares of ``Outcomes.steps_run``.
    no_data_rollbacks : int
        Rollbacks at a step without data (``policy.no_data: fail``).
    blast : BlastTally or None
        Counts model only.
    """

    n_rollouts: int
    rollbacks: int
    rollbacks_by_stage: tuple[int, ...]
    metric_rollbacks: tuple[int, ...]
    steps_sum: int
    steps_sq_sum: int
    no_data_rollbacks: int = 0
    blast: BlastTally | None = None

    @classmethod
    def from_dict(cls, fields: dict) -> Tally:
        """The inverse of ``dataclasses.asdict`` after a JSON round trip (lists for tuples)."""
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        blast = values.get("blast")
        if isinstance(blast, dict):
            histogram = tuple(tuple(pair) for pair in blast["excess_errors_histogram"])
            values["blast"] = BlastTally(**{**blast, "excess_errors_histogram": histogram})
        return cls(**values)

    @classmethod
    def empty(cls, n_stages: int, n_metrics: int) -> Tally:
        return cls(0, 0, (0,) * n_stages, (0,) * n_metrics, 0, 0)

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            n_rollouts=self.n_rollouts + other.n_rollouts,
            rollbacks=self.rollbacks + other.rollbacks,
            rollbacks_by_stage=tuple(
                a + b
                for a, b in zip(self.rollbacks_by_stage, other.rollbacks_by_stage, strict=True)
            ),
            metric_rollbacks=tuple(
                a + b for a, b in zip(self.metric_rollbacks, other.metric_rollbacks, strict=True)
            ),
            steps_sum=self.steps_sum + other.steps_sum,
            steps_sq_sum=self.steps_sq_sum + other.steps_sq_sum,
            no_data_rollbacks=self.no_data_rollbacks + other.no_data_rollbacks,
            blast=other.blast
            if self.blast is None
            else self.blast
            if other.blast is None
            else self.blast + other.blast,
        )
