"""Adaptive precision: add whole blocks of rollouts until every reported rate is precise.

The stopping rule (``--precision H``, ``precision:`` in the file)
------------------------------------------------------------------
The rule may look only at the rollout counts of a fixed schedule,
``n_1 = 4,096`` (one random-number block), ``n_{j+1} = 2 n_j``, ending with
``max_rollouts`` (:func:`look_schedule`). At look ``j`` it tallies the first ``n_j``
rollouts of the seed's fixed sequence and stops at the first look where every reported
rate's interval (each scenario's rollback and completion rate and each stage's rollback
fraction) has half-width ``(hi - lo) / 2 <= H``, or at the last look.

Reproducible: rollout ``i`` is the same whatever the number of rollouts (streams are
keyed by 4,096-rollout block), so the look ``j`` tallies are a deterministic function of
the file and seed, and so is the stopping look: the same seed and precision give the
same rollouts and the same numbers, for any chunk size, worker count or executor.

Optional stopping. Stopping when an interval is narrow makes the stopping time depend
on the data (a binomial interval is narrower away from 1/2), so a plain 95% interval at
the stopping look would cover less than 95%. Every interval of an adaptive run is
therefore computed at level ``1 - 0.05 / L``, ``L`` the number of looks the schedule
allows (Bonferroni over the looks), and the stopping rule judges those same intervals.
Whatever look the rule stops at, the reported interval misses the truth only if the
interval of some look misses, so ``P(miss) <= L * 0.05 / L = 0.05``: the intervals keep
95% coverage under the data-dependent stop. Doubling keeps ``L`` small (13 looks up to
ten million rollouts: ``z = 2.89`` instead of 1.96).

Cost: each look recomputes from rollout 0, so an adaptive run costs at most twice the
run at the rollouts it stopped at (``1 + 1/2 + 1/4 + ...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from canary_mc.engine.adaptive import (
    first_precise_look,
    look_confidence,
    look_schedule,
    tally_to_precision,
    widest_half_width,
)
from canary_mc.errors import ConfigError
from canary_mc.model import Experiment
from canary_mc.stats.estimate import ExperimentEstimate

__all__ = [
    "DEFAULT_MAX_ROLLOUTS",
    "PrecisionRun",
    "check_precision",
    "first_precise_look",
    "look_confidence",
    "look_schedule",
    "run_to_precision",
    "widest_half_width",
]

DEFAULT_MAX_ROLLOUTS = 10_000_000
"""``--max-rollouts`` when not given: the last look of an adaptive run."""


@dataclass(frozen=True)
class PrecisionRun:
    """An adaptive run's estimate and how it stopped.

    Attributes
    ----------
    estimate : ExperimentEstimate
        At ``n_rollouts``, every interval at level ``estimate.confidence``.
    n_rollouts : int
        Rollouts used.
    precision : float
        The half-width asked for (fraction).
    half_width : float
        The widest half-width reached.
    reached : bool
        ``half_width <= precision``; otherwise ``max_rollouts`` stopped the run.
    looks : tuple of int
        The schedule the rule could stop at.
    """

    estimate: ExperimentEstimate
    n_rollouts: int
    precision: float
    half_width: float
    reached: bool
    looks: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary of the stop (for ``--json`` output)."""
        return {
            "precision": self.precision,
            "rollouts_used": self.n_rollouts,
            "half_width": self.half_width,
            "reached": self.reached,
            "max_rollouts": self.looks[-1],
            "looks": list(self.looks),
            "confidence_per_look": self.estimate.confidence,
        }


def check_precision(precision: float, max_rollouts: int) -> None:
    """Refuse a precision outside (0, 0.5) or a cap below one rollout."""
    if not 0 < precision < 0.5:
        raise ConfigError(f"precision must be a fraction in (0, 0.5), got {precision:g}")
    if max_rollouts < 1:
        raise ConfigError(f"max_rollouts must be >= 1, got {max_rollouts}")


def run_to_precision(
    experiment: Experiment,
    *,
    precision: float,
    max_rollouts: int = DEFAULT_MAX_ROLLOUTS,
    seed: int | None = None,
    chunk_rollouts: int | None = None,
) -> PrecisionRun:
    """Run an experiment until every reported rate's half-width is ``<= precision``.

    See the module docstring for the stopping rule and its intervals.

    Parameters
    ----------
    experiment : Experiment
    precision : float
        Target half-width of every reported rate (fraction, e.g. 0.001).
    max_rollouts : int
        Last look.
    seed, chunk_rollouts : int, optional
        As :func:`~canary_mc.engine.simulate.tally_experiment`; neither changes which look
        the rule stops at for a given seed.

    Returns
    -------
    PrecisionRun
    """
    check_precision(precision, max_rollouts)
    _, estimate, width = tally_to_precision(
        experiment,
        precision=precision,
        max_rollouts=max_rollouts,
        seed=seed,
        chunk_rollouts=chunk_rollouts,
    )
    looks = look_schedule(max_rollouts)
    return PrecisionRun(estimate, estimate.n_rollouts, precision, width, width <= precision, looks)
