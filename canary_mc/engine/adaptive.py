"""Adaptive precision's stopping rule on the engine's tallies (``docs/tune.md``).

Looks at :data:`~canary_mc.engine.core.streams.BLOCK_ROLLOUTS` rollouts, doubling, then
``max_rollouts``; stop at the first look where every reported rate's half-width, at the
per-look level ``1 - 0.05 / L`` (Bonferroni over the ``L`` looks), is at most the
precision. Kept in the engine so that sweep workers run it without importing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from canary_mc.engine.core.streams import BLOCK_ROLLOUTS
from canary_mc.engine.simulate import estimate_experiment, tally_experiment
from canary_mc.model import Experiment
from canary_mc.stats.estimate import ExperimentEstimate
from canary_mc.stats.intervals import CONFIDENCE
from canary_mc.stats.tally import Tally


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


def experiment_confidence(experiment: Experiment) -> float:
    """The level of an experiment's intervals: 95%, or the per-look level when it asks
    for adaptive precision (``precision:``)."""
    if experiment.precision is None:
        return CONFIDENCE
    return look_confidence(len(look_schedule(experiment.max_rollouts)))


def widest_half_width(estimate: ExperimentEstimate) -> float:
    """The largest ``(hi - lo) / 2`` of the rates an adaptive run reports: each
    scenario's rollback and completion rate and each stage's rollback fraction."""
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


def tally_to_precision(
    experiment: Experiment,
    *,
    precision: float,
    max_rollouts: int,
    seed: int | None = None,
    chunk_rollouts: int | None = None,
) -> tuple[dict[str, Tally], ExperimentEstimate, float]:
    """Tallies at the look where the stopping rule stops.

    Returns
    -------
    tallies : dict of str to Tally
    estimate : ExperimentEstimate
        At the per-look level.
    half_width : float
        The widest reported half-width there.
    """
    looks = look_schedule(max_rollouts)
    confidence = look_confidence(len(looks))
    kept: dict[int, tuple[dict[str, Tally], ExperimentEstimate]] = {}

    def half_width_at(n: int) -> float:
        tallies = tally_experiment(experiment, rollouts=n, seed=seed, chunk_rollouts=chunk_rollouts)
        estimate = estimate_experiment(experiment, tallies, seed=seed, confidence=confidence)
        kept[n] = (tallies, estimate)
        return widest_half_width(estimate)

    n, width = first_precise_look(looks, half_width_at, precision)
    return kept[n][0], kept[n][1], width
