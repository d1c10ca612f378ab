"""Kayenta's NetflixACAJudge as a pure decision: samples in, metric classes, score, verdict.

Semantics (sources in ``docs/research/import-semantics.md`` and
``docs/research/real-systems.md`` §3), per metric of one canary analysis:

1. A side without data: ``Nodata``, or ``NodataFailMetric`` when ``must_have_data`` and
   the metric is not critical (Kayenta's ``nanStrategy: remove``, its default).
2. The same values on both sides, or a single distinct value overall: ``Pass``.
3. The Mann-Whitney confidence interval for the shift canary − baseline at
   ``confidence`` (0.98, two-sided: 1% per tail), by the normal approximation with tie
   and continuity correction, as R's ``wilcox.test(conf.int=TRUE, exact=FALSE)`` and
   Kayenta compute it; the Hodges-Lehmann estimate ``hl``. ``High`` when the direction
   allows an increase, the interval's lower end exceeds ``tolerance·|hl|`` (0.25) and
   the mean ratio canary/baseline is ``>= allowed_increase`` (a NaN ratio is ignored);
   ``Low`` mirrored; otherwise ``Pass``.
4. Critical: a critical metric classed High with ratio ``>= critical_increase`` (Low with
   ``<= critical_decrease``), or critical with Nodata, is flagged critical.

Score: per group ``100·Pass/(Pass + High + Low + NodataFailMetric)`` (a group with none
of those scores 100 in the sum); the summary is the sum of group score × weight/100,
groups without a weight sharing ``100 − Σ weights`` equally, rounded to 2 decimals. It
is 0 when any critical-flagged metric is not ``Pass``, or when at least half the metrics
are ``Nodata``. Verdict: ``pass`` at ``score >= pass_threshold``, ``marginal`` at
``>= marginal_threshold``, else ``fail``.

Two departures, both of measure zero or of detail: Kayenta adds tiny Gaussian noise when
both sides are constant (here: the samples are treated as untied, which is what the
noise achieves); the Hodges-Lehmann estimate is the median of pairwise differences
(Kayenta solves for it numerically on the same statistic, landing within the median's
flat interval).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from canary_mc.engine.core.normal import normal_quantile

Direction = Literal["increase", "decrease", "either"]
MetricClass = Literal["Pass", "High", "Low", "Nodata", "NodataFailMetric", "Error"]
Verdict = Literal["pass", "marginal", "fail"]

KAYENTA_CONFIDENCE = 0.98
"""The confidence level NetflixACAJudge passes to its Mann-Whitney classifier."""
KAYENTA_TOLERANCE = 0.25
"""The interval must clear this fraction of |Hodges-Lehmann estimate| (Kayenta's tolerance)."""


@dataclass(frozen=True)
class JudgedMetric:
    """One metric of a Kayenta canary config, as the judge reads it.

    Parameters
    ----------
    name : str
    groups : tuple of str
        The groups whose score it counts in.
    direction : {"increase", "decrease", "either"}
        Which change fails it (Kayenta's default ``either``).
    allowed_increase, allowed_decrease : float
        Mean-ratio margins (canary mean / baseline mean); default 1.0.
    critical_increase, critical_decrease : float
        Mean-ratio margins for a critical failure; default 1.0.
    critical, must_have_data : bool
    """

    name: str
    groups: tuple[str, ...]
    direction: Direction = "either"
    allowed_increase: float = 1.0
    allowed_decrease: float = 1.0
    critical_increase: float = 1.0
    critical_decrease: float = 1.0
    critical: bool = False
    must_have_data: bool = False


@dataclass(frozen=True)
class Classification:
    """A metric's class and whether it is flagged critical."""

    label: MetricClass
    critical: bool = False


@dataclass(frozen=True)
class Judgement:
    """The judge's result: every metric's class, the group and summary scores, the verdict."""

    classes: tuple[Classification, ...]
    group_scores: Mapping[str, float]
    score: float
    verdict: Verdict


def _shift_statistic(canary: np.ndarray, baseline: np.ndarray, shift: float) -> float:
    """The continuity-corrected standardised rank-sum of ``canary − shift`` against baseline.

    Decreasing in ``shift``; ``nan`` when every observation is tied (Kayenta: an error).
    """
    n, m = len(canary), len(baseline)
    pooled = np.concatenate([canary - shift, baseline])
    _, inverse, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    dz = ranks[:n].sum() - n * (n + 1) / 2.0 - n * m / 2.0
    ties = float(np.sum(counts.astype(float) ** 3 - counts))
    variance = (n * m / 12.0) * ((n + m + 1) - ties / ((n + m) * (n + m - 1)))
    if variance <= 0:
        return math.nan
    return (dz - 0.5 * np.sign(dz)) / math.sqrt(variance)


def _clears(
    canary: np.ndarray, baseline: np.ndarray, margin: float, quantile: float, upward: bool
) -> bool:
    """Does the interval's lower end exceed ``margin`` (upward), or its upper end fall below
    ``−margin``? Kayenta's root search on a monotone statistic, decided at the margin:
    the lower end is ``min(c) − max(b)`` when even that shift is not significant."""
    low_end, high_end = canary.min() - baseline.max(), canary.max() - baseline.min()
    if upward:
        if _shift_statistic(canary, baseline, low_end) <= quantile:
            return low_end > margin
        return _shift_statistic(canary, baseline, margin) > quantile
    if _shift_statistic(canary, baseline, high_end) >= -quantile:
        return high_end < -margin
    return _shift_statistic(canary, baseline, -margin) < -quantile


def _mean_ratio(canary: np.ndarray, baseline: np.ndarray) -> float:
    base, can = float(baseline.mean()), float(canary.mean())
    return math.nan if base == 0 or can == 0 else can / base


def classify_metric(
    canary: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    metric: JudgedMetric,
    *,
    confidence: float = KAYENTA_CONFIDENCE,
    tolerance: float = KAYENTA_TOLERANCE,
) -> Classification:
    """Classify one metric from its samples, shape ``(n_canary,)`` and ``(n_baseline,)``.

    NaNs are removed first (Kayenta's ``nanStrategy: remove``).
    """
    can = np.asarray(canary, dtype=float)
    base = np.asarray(baseline, dtype=float)
    can, base = can[~np.isnan(can)], base[~np.isnan(base)]
    if can.size == 0 or base.size == 0:
        if metric.must_have_data and not metric.critical:
            return Classification("NodataFailMetric")
        return Classification("Nodata", critical=metric.critical)
    if (
        np.array_equal(np.sort(can), np.sort(base))
        or np.unique(np.concatenate([can, base])).size == 1
    ):
        return Classification("Pass")
    if np.unique(can).size == 1 and np.unique(base).size == 1:
        # Kayenta jitters constant samples; the effect is a complete, untied separation.
        step = abs(float(can[0])) * 1e-9 or 1e-12
        can = can + step * np.arange(can.size)
        base = base + step * np.arange(base.size)
    hl = float(np.median(np.subtract.outer(can, base)))
    margin = tolerance * abs(hl)
    quantile = float(normal_quantile(np.array([1.0 - (1.0 - confidence) / 2.0]))[0])
    ratio = _mean_ratio(can, base)
    high = metric.direction in ("increase", "either") and _clears(can, base, margin, quantile, True)
    high = high and (math.isnan(ratio) or ratio >= metric.allowed_increase)
    low = metric.direction in ("decrease", "either") and _clears(can, base, margin, quantile, False)
    low = low and (math.isnan(ratio) or ratio <= metric.allowed_decrease)
    if high:
        critical = metric.critical and (math.isnan(ratio) or ratio >= metric.critical_increase)
        return Classification("High", critical)
    if low:
        critical = metric.critical and (math.isnan(ratio) or ratio <= metric.critical_decrease)
        return Classification("Low", critical)
    return Classification("Pass")


def score_metrics(
    metrics: Sequence[JudgedMetric],
    classes: Sequence[Classification],
    group_weights: Mapping[str, float],
) -> tuple[dict[str, float], float]:
    """Group scores and the summary score (0-100) of classified metrics."""
    if any(c.critical and c.label != "Pass" for c in classes):
        return _group_scores(metrics, classes), 0.0
    if sum(c.label == "Nodata" for c in classes) * 100 >= 50 * len(classes):
        return _group_scores(metrics, classes), 0.0
    groups = _group_scores(metrics, classes)
    unweighted = [g for g in groups if g not in group_weights]
    share = (100.0 - sum(group_weights.values())) / len(unweighted) if unweighted else 0.0
    summary = sum(
        (100.0 if math.isnan(s) else s) * group_weights.get(g, share) / 100.0
        for g, s in groups.items()
    )
    return groups, round(summary, 2)


def _group_scores(
    metrics: Sequence[JudgedMetric], classes: Sequence[Classification]
) -> dict[str, float]:
    """Per group 100·Pass/(Pass+High+Low+NodataFailMetric); NaN for a group with none."""
    counted: dict[str, list[int]] = {}
    for metric, c in zip(metrics, classes, strict=True):
        for group in metric.groups:
            tally = counted.setdefault(group, [0, 0])
            if c.label in ("Pass", "High", "Low", "NodataFailMetric"):
                tally[1] += 1
                tally[0] += c.label == "Pass"
    return {g: (100.0 * p / t if t else math.nan) for g, (p, t) in counted.items()}


def judge(
    canary: Sequence[Sequence[float] | np.ndarray],
    baseline: Sequence[Sequence[float] | np.ndarray],
    metrics: Sequence[JudgedMetric],
    *,
    group_weights: Mapping[str, float],
    pass_threshold: float,
    marginal_threshold: float,
    confidence: float = KAYENTA_CONFIDENCE,
) -> Judgement:
    """Judge one canary analysis: one sample array per metric and side.

    Parameters
    ----------
    canary, baseline : sequences of arrays
        ``canary[k]`` and ``baseline[k]`` hold metric ``k``'s samples (any lengths; NaN
        is missing data).
    metrics : sequence of JudgedMetric
    group_weights : mapping of str to float
        Kayenta's ``classifier.groupWeights`` (percent, meant to total 100).
    pass_threshold, marginal_threshold : float
        ``scoreThresholds.pass`` and ``.marginal``, on the 0-100 score.

    Examples
    --------
    >>> m = JudgedMetric("errors", ("g",), "increase")
    >>> judge([[5.0] * 20], [[1.0] * 20], [m], group_weights={"g": 100},
    ...       pass_threshold=95, marginal_threshold=75).verdict
    'fail'
    """
    classes = tuple(
        classify_metric(c, b, m, confidence=confidence)
        for c, b, m in zip(canary, baseline, metrics, strict=True)
    )
    groups, score = score_metrics(metrics, classes, group_weights)
    verdict: Verdict = (
        "pass" if score >= pass_threshold else "marginal" if score >= marginal_threshold else "fail"
    )
    return Judgement(classes, groups, score, verdict)
