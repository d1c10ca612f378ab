"""Estimates with confidence intervals, built from a :class:`~canary_mc.stats.tally.Tally`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from canary_mc.model import Policy
from canary_mc.stats.intervals import CONFIDENCE, clopper_pearson_interval, mean_interval
from canary_mc.stats.tally import BlastTally, Tally


@dataclass(frozen=True)
class Rate:
    """A proportion estimated from ``events`` out of ``n``, with its Clopper-Pearson
    interval (95% unless an adaptive run asked for a wider level,
    :mod:`canary_mc.tune.precision`)."""

    events: int
    n: int
    rate: float
    lo: float
    hi: float

    @classmethod
    def of(cls, events: int, n: int, confidence: float = CONFIDENCE) -> Rate:
        lo, hi = clopper_pearson_interval(events, n, confidence)
        return cls(events=events, n=n, rate=events / n, lo=float(lo), hi=float(hi))


@dataclass(frozen=True)
class StageRollbacks:
    """Fraction of all rollouts rolled back in one stage."""

    stage: str
    stage_index: int
    traffic_pct: float
    rollback_fraction: Rate


@dataclass(frozen=True)
class BlastRadius:
    """What a canary served users before its rollout was decided (counts model).

    Attributes
    ----------
    canary_requests_mean : float
        Mean canary requests served per rollout, up to and including the decision step;
        ``_lo``/``_hi``: 95% normal interval (``None`` below 30 rollouts).
    excess_errors_mean : float
        Mean errors per rollout caused by the fault (beyond the healthy canary's on the
        same draws), with its 95% normal interval.
    excess_errors_p95 : int
        95th percentile of the per-rollout excess errors: the smallest value at or below
        which at least 95% of rollouts lie. ``_lo``/``_hi``: distribution-free 95%
        order-statistic interval (normal approximation to the binomial ranks).
    """

    canary_requests_mean: float
    canary_requests_mean_lo: float | None
    canary_requests_mean_hi: float | None
    excess_errors_mean: float
    excess_errors_mean_lo: float | None
    excess_errors_mean_hi: float | None
    excess_errors_p95: int
    excess_errors_p95_lo: int
    excess_errors_p95_hi: int

    @classmethod
    def of(cls, blast: BlastTally, n: int) -> BlastRadius:
        requests = mean_interval(blast.canary_requests_sum, blast.canary_requests_sq_sum, n)
        excess = mean_interval(blast.excess_errors_sum, blast.excess_errors_sq_sum, n)
        histogram = blast.excess_errors_histogram
        z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
        half = z * math.sqrt(n * P95 * (1 - P95))
        return cls(
            canary_requests_mean=requests[0],
            canary_requests_mean_lo=requests[1],
            canary_requests_mean_hi=requests[2],
            excess_errors_mean=excess[0],
            excess_errors_mean_lo=excess[1],
            excess_errors_mean_hi=excess[2],
            excess_errors_p95=value_at_rank(histogram, math.ceil(P95 * n)),
            excess_errors_p95_lo=value_at_rank(histogram, max(1, math.floor(P95 * n - half))),
            excess_errors_p95_hi=value_at_rank(histogram, min(n, math.ceil(P95 * n + half) + 1)),
        )


P95 = 0.95


def value_at_rank(histogram: tuple[tuple[int, int], ...], rank: int) -> int:
    """The ``rank``-th smallest value (1-based) of a sorted ``(value, count)`` histogram.

    >>> value_at_rank(((0, 90), (3, 5), (7, 5)), 95)
    3
    """
    seen = 0
    for value, count in histogram:
        seen += count
        if seen >= rank:
            return value
    raise ValueError(f"rank must be at most {seen}, got {rank}")


@dataclass(frozen=True)
class ScenarioEstimate:
    """Aggregates of one configuration and scenario.

    Attributes
    ----------
    scenario : str
    healthy : bool
        The scenario has no effect, so every rollback is a false alarm.
    rollback : Rate
        Rollbacks out of all rollouts.
    completed : Rate
        Rollouts that passed every step.
    stages : tuple of StageRollbacks
        Where the rollbacks happened; fractions of all rollouts, in stage order.
    rollbacks_by_reason : dict of str to int
        Rollbacks by the metric that failed first, by metric name (the shorthand's
        ``{"error": ..., "latency": ...}``).
    mean_steps_to_decision : float
        Mean number of steps until rollback or completion.
    mean_steps_lo, mean_steps_hi : float or None
        Its 95% normal interval, cut to [1, n_steps]; ``None`` below 30 rollouts.
    blast : BlastRadius or None
        Counts model only: what the canary served before the decision.
    no_data_rollbacks : int
        Rollbacks at a step without data (``policy.no_data: fail``; counts model).
    minutes_per_step : float or None
        ``policy.interval`` in minutes (``None`` when the policy gives none): times to
        decision are then also in minutes.
    """

    scenario: str
    healthy: bool
    rollback: Rate
    completed: Rate
    stages: tuple[StageRollbacks, ...]
    rollbacks_by_reason: dict[str, int]
    mean_steps_to_decision: float
    mean_steps_lo: float | None
    mean_steps_hi: float | None
    blast: BlastRadius | None = None
    no_data_rollbacks: int = 0
    minutes_per_step: float | None = None

    def minutes(self, steps: float | None) -> float | None:
        """A number of steps in minutes, or ``None`` without ``policy.interval``."""
        if steps is None or self.minutes_per_step is None:
            return None
        return steps * self.minutes_per_step

    @classmethod
    def of(
        cls,
        tally: Tally,
        policy: Policy,
        scenario: str,
        healthy: bool,
        confidence: float = CONFIDENCE,
    ) -> ScenarioEstimate:
        n = tally.n_rollouts
        mean, lo, hi = mean_interval(
            tally.steps_sum,
            tally.steps_sq_sum,
            n,
            bounds=(1, policy.max_steps),
            confidence=confidence,
        )
        return cls(
            scenario=scenario,
            healthy=healthy,
            rollback=Rate.of(tally.rollbacks, n, confidence),
            completed=Rate.of(n - tally.rollbacks, n, confidence),
            stages=tuple(
                StageRollbacks(stage.name, i, stage.traffic_pct, Rate.of(count, n, confidence))
                for i, (stage, count) in enumerate(
                    zip(policy.stages, tally.rollbacks_by_stage, strict=True)
                )
            ),
            rollbacks_by_reason={
                check.name: count
                for check, count in zip(policy.checks, tally.metric_rollbacks, strict=True)
            },
            no_data_rollbacks=tally.no_data_rollbacks,
            mean_steps_to_decision=mean,
            mean_steps_lo=lo,
            mean_steps_hi=hi,
            blast=None if tally.blast is None else BlastRadius.of(tally.blast, n),
            minutes_per_step=policy.interval_minutes,
        )


@dataclass(frozen=True)
class ExperimentEstimate:
    """Every scenario of one experiment run, with the healthy one's rate as false alarms."""

    experiment: str
    seed: int
    n_rollouts: int
    healthy_scenario: str
    scenarios: tuple[ScenarioEstimate, ...]
    unchecked: tuple[tuple[str, str], ...] = ()
    """``(stage, metric)`` pairs never checked (a ``delta`` or ``ratio`` metric where the
    baseline serves nothing): shown by ``run`` beside the rates they do not limit."""
    confidence: float = CONFIDENCE
    """Two-sided level of every interval: 0.95, or wider after an adaptive run
    (:func:`canary_mc.tune.precision.run_to_precision`)."""

    @property
    def false_alarm(self) -> Rate:
        """Rollback rate of the healthy scenario."""
        return next(s.rollback for s in self.scenarios if s.scenario == self.healthy_scenario)

    def records(self) -> list[dict[str, Any]]:
        """One flat, JSON-ready dict per scenario (the ``run --json`` output)."""
        false_alarm = self.false_alarm
        rows = []
        for s in self.scenarios:
            rows.append(
                {
                    "experiment": self.experiment,
                    "seed": self.seed,
                    "scenario": s.scenario,
                    "healthy": s.healthy,
                    "n_rollouts": s.rollback.n,
                    "rollbacks": s.rollback.events,
                    "rollback_rate": s.rollback.rate,
                    "rollback_rate_lo": s.rollback.lo,
                    "rollback_rate_hi": s.rollback.hi,
                    "false_alarm_rate": false_alarm.rate,
                    "false_alarm_rate_lo": false_alarm.lo,
                    "false_alarm_rate_hi": false_alarm.hi,
                    "detection_rate": None if s.healthy else s.rollback.rate,
                    "detection_rate_lo": None if s.healthy else s.rollback.lo,
                    "detection_rate_hi": None if s.healthy else s.rollback.hi,
                    "completed_rate": s.completed.rate,
                    "completed_rate_lo": s.completed.lo,
                    "completed_rate_hi": s.completed.hi,
                    "rollbacks_by_reason": dict(s.rollbacks_by_reason),
                    "no_data_rollbacks": s.no_data_rollbacks,
                    "mean_steps_to_decision": s.mean_steps_to_decision,
                    "mean_steps_to_decision_lo": s.mean_steps_lo,
                    "mean_steps_to_decision_hi": s.mean_steps_hi,
                    "mean_minutes_to_decision": s.minutes(s.mean_steps_to_decision),
                    "mean_minutes_to_decision_lo": s.minutes(s.mean_steps_lo),
                    "mean_minutes_to_decision_hi": s.minutes(s.mean_steps_hi),
                    **{
                        name: None if s.blast is None else getattr(s.blast, name)
                        for name in BLAST_FIELDS
                    },
                    "stages": [
                        {
                            "stage": st.stage,
                            "stage_index": st.stage_index,
                            "traffic_pct": st.traffic_pct,
                            "rollback_fraction": st.rollback_fraction.rate,
                            "rollback_fraction_lo": st.rollback_fraction.lo,
                            "rollback_fraction_hi": st.rollback_fraction.hi,
                        }
                        for st in s.stages
                    ],
                }
            )
        return rows


BLAST_FIELDS = tuple(BlastRadius.__dataclass_fields__)
"""Blast-radius keys of :meth:`ExperimentEstimate.records` (``None`` under the Gaussian
model)."""

__all__ = [
    "BLAST_FIELDS",
    "BlastRadius",
    "ExperimentEstimate",
    "Rate",
    "ScenarioEstimate",
    "StageRollbacks",
]
