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
on the data (a Wilson interval is narrower away from 1/2), so a plain 95% interval at
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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from canary_mc.engine.core.streams import BLOCK_ROLLOUTS
from canary_mc.engine.simulate import estimate_experiment, tally_experiment
from canary_mc.errors import ConfigError
from canary_mc.model import Experiment
from canary_mc.stats.estimate import ExperimentEstimate
from canary_mc.stats.intervals import CONFIDENCE

DEFAULT_MAX_ROLLOUTS = 10_000_000
"""``--max-rollouts`` when not given: the last look of an adaptive run."""


def look_schedule(max_rollouts: int, first: int = BLOCK_ROLLOUTS) -> tuple[int, ...]:
    """The rollout counts an adaptive run may stop at: ``first``, doubling, then the cap.

    Parameters
    ----------
    max_rollouts : int
        The last look, >= 1 (a cap below ``first`` is the only look).
    first : int
        The first look (one random-number block by default).

    Returns
    -------
    tuple of int
        Increasing; the last element is ``max_rollouts``.

    Examples
    --------
    >>> look_schedule(20_000)
    (4096, 8192, 16384, 20000)
    """
    looks = []
    n = first
    while n < max_rollouts:
        looks.append(n)
        n *= 2
    looks.append(max_rollouts)
    return tuple(looks)


def look_confidence(n_looks: int, confidence: float = CONFIDENCE) -> float:
    """Per-look level that keeps ``confidence`` over ``n_looks`` looks (Bonferroni)."""
    return 1.0 - (1.0 - confidence) / n_looks


def widest_half_width(estimate: ExperimentEstimate) -> float:
    """The largest ``(hi - lo) / 2`` of the rates an adaptive run reports."""
    widths = []
    for s in estimate.scenarios:
        rates = [s.rollback, s.completed, *(st.rollback_fraction for st in s.stages)]
        widths += [(r.hi - r.lo) / 2 for r in rates]
    return max(widths)


def first_precise_look(
    looks: Sequence[int], half_width_at: Callable[[int], float], precision: float
) -> tuple[int, float]:
    """The stopping rule itself: the first look whose widest half-width is ``<= precision``.

    Parameters
    ----------
    looks : sequence of int
        :func:`look_schedule`.
    half_width_at : callable
        ``n -> `` the widest reported half-width after the first ``n`` rollouts.
    precision : float
        ``H``, a fraction in (0, 1).

    Returns
    -------
    n, half_width : int, float
        The rollouts used and the widest half-width there (``> precision`` only when the
        last look was reached without it).
    """
    for n in looks:
        width = half_width_at(n)
        if width <= precision:
            return n, width
    return n, width


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
    looks = look_schedule(max_rollouts)
    confidence = look_confidence(len(looks))
    estimates: dict[int, ExperimentEstimate] = {}

    def half_width_at(n: int) -> float:
        tallies = tally_experiment(experiment, rollouts=n, seed=seed, chunk_rollouts=chunk_rollouts)
        estimates[n] = estimate_experiment(experiment, tallies, seed=seed, confidence=confidence)
        return widest_half_width(estimates[n])

    n, width = first_precise_look(looks, half_width_at, precision)
    return PrecisionRun(estimates[n], n, precision, width, width <= precision, looks)
