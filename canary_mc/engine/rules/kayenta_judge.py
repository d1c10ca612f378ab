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
from canary_mc.engine.core.outcomes import Outcomes, first_coded_failure, metric_codes
from canary_mc.engine.core.schedule import PolicyPlan
from canary_mc.engine.rules.mannwhitney import Samples, mann_whitney_u
from canary_mc.model.rules import KayentaMetric

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


def judged_metrics(policy: PolicyPlan) -> list[JudgedMetric]:
    """The judge's view of the policy's metrics under a ``kayenta`` rule."""
    rule = policy.rule
    out = []
    for limits in policy.metrics:
        check = limits.check
        own = rule.metrics.get(check.name) or KayentaMetric()
        out.append(
            JudgedMetric(
                check.name,
                (own.group,),
                own.direction or check.direction,  # type: ignore[arg-type]
                own.allowed_increase,
                own.allowed_decrease,
                critical=own.critical,
            )
        )
    return out


BATCH_ROWS = 256
"""Rows classified at once: the rank arrays hold rows x (n + m)^2 values."""

LABELS: tuple[MetricClass, ...] = ("Pass", "High", "Low")
"""Codes of :func:`classify_batch`: 0 Pass, 1 High, 2 Low."""


def _row_ratio(canary: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """:func:`_mean_ratio` per row: NaN where either mean is 0."""
    base, can = baseline.mean(axis=1), canary.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((base == 0) | (can == 0), np.nan, can / base)


def _z_at(x: np.ndarray, y: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The continuity-corrected rank statistic of ``x - shift`` against ``y``, per row."""
    n, m = x.shape[-1], y.shape[-1]
    total = n + m
    u, ties = mann_whitney_u(x - shift[:, None], y)
    variance = n * m / 12.0 * ((total + 1) - ties / (total * (total - 1)))
    dz = u - n * m / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return (dz - 0.5 * np.sign(dz)) / np.sqrt(variance)


def _clears_batch(
    x: np.ndarray, y: np.ndarray, margin: np.ndarray, quantile: float, upward: bool
) -> np.ndarray:
    """:func:`_clears` for every row of ``x`` (canary) and ``y`` (baseline)."""
    if upward:
        end = x.min(axis=1) - y.max(axis=1)
        at_end = _z_at(x, y, end) <= quantile
        return np.where(at_end, end > margin, _z_at(x, y, margin) > quantile)
    end = x.max(axis=1) - y.min(axis=1)
    at_end = _z_at(x, y, end) >= -quantile
    return np.where(at_end, end < -margin, _z_at(x, y, -margin) < -quantile)


def classify_batch(
    canary: np.ndarray,
    baseline: np.ndarray,
    metric: JudgedMetric,
    *,
    confidence: float = KAYENTA_CONFIDENCE,
    tolerance: float = KAYENTA_TOLERANCE,
) -> np.ndarray:
    """:func:`classify_metric` for many analyses at once, on finite samples.

    Parameters
    ----------
    canary, baseline : ndarray, shape (n_rollouts, n) and (n_rollouts, m)
        Samples without NaN (simulated samples always have data).

    Returns
    -------
    ndarray of int8, shape (n_rollouts,)
        Codes into :data:`LABELS`; equal to :func:`classify_metric` row by row (tested).
    """
    x = np.asarray(canary, dtype=float)
    y = np.asarray(baseline, dtype=float)
    if x.shape[0] > BATCH_ROWS:  # bound the (rows, N, N) comparison arrays
        return np.concatenate(
            [
                classify_batch(
                    x[i : i + BATCH_ROWS],
                    y[i : i + BATCH_ROWS],
                    metric,
                    confidence=confidence,
                    tolerance=tolerance,
                )
                for i in range(0, x.shape[0], BATCH_ROWS)
            ]
        )
    same = (
        (np.sort(x, axis=1) == np.sort(y, axis=1)).all(axis=1)
        if x.shape == y.shape
        else (np.zeros(x.shape[0], dtype=bool))
    )
    lo = np.minimum(x.min(axis=1), y.min(axis=1))
    hi = np.maximum(x.max(axis=1), y.max(axis=1))
    same |= lo == hi
    constant = (x.min(axis=1) == x.max(axis=1)) & (y.min(axis=1) == y.max(axis=1)) & ~same
    if constant.any():  # Kayenta jitters constant samples: an untied, complete separation
        step = np.abs(x[:, 0]) * 1e-9
        step = np.where(step == 0, 1e-12, step)[:, None]
        x = np.where(constant[:, None], x + step * np.arange(x.shape[1]), x)
        y = np.where(constant[:, None], y + step * np.arange(y.shape[1]), y)
    hl = np.median((x[:, :, None] - y[:, None, :]).reshape(x.shape[0], -1), axis=1)
    margin = tolerance * np.abs(hl)
    quantile = float(normal_quantile(np.array([1.0 - (1.0 - confidence) / 2.0]))[0])
    ratio = _row_ratio(x, y)
    free = np.isnan(ratio)
    high = np.zeros(x.shape[0], dtype=bool)
    low = np.zeros(x.shape[0], dtype=bool)
    if metric.direction in ("increase", "either"):
        high = _clears_batch(x, y, margin, quantile, True) & (
            free | (ratio >= metric.allowed_increase)
        )
    if metric.direction in ("decrease", "either"):
        low = _clears_batch(x, y, margin, quantile, False) & (
            free | (ratio <= metric.allowed_decrease)
        )
    code = np.where(high, 1, np.where(low, 2, 0)).astype(np.int8)
    code[same] = 0
    return code


def critical_batch(
    code: np.ndarray, canary: np.ndarray, baseline: np.ndarray, metric: JudgedMetric
) -> np.ndarray:
    """Critical flags of :func:`classify_batch` codes (Kayenta's criticalIncrease/Decrease)."""
    if not metric.critical:
        return np.zeros(code.shape, dtype=bool)
    ratio = _row_ratio(canary, baseline)
    free = np.isnan(ratio)
    return ((code == 1) & (free | (ratio >= metric.critical_increase))) | (
        (code == 2) & (free | (ratio <= metric.critical_decrease))
    )


def score_batch(
    metrics: Sequence[JudgedMetric],
    codes: Sequence[np.ndarray],
    critical: Sequence[np.ndarray],
    group_weights: Mapping[str, float],
) -> np.ndarray:
    """:func:`score_metrics` for many analyses (no Nodata: simulated samples have data)."""
    groups: dict[str, list[int]] = {}
    for k, metric in enumerate(metrics):
        for group in metric.groups:
            groups.setdefault(group, []).append(k)
    unweighted = [g for g in groups if g not in group_weights]
    share = (100.0 - sum(group_weights.values())) / len(unweighted) if unweighted else 0.0
    summary = np.zeros(codes[0].shape, dtype=float)
    for group, members in groups.items():
        passed = sum((codes[k] == 0).astype(float) for k in members)
        summary += 100.0 * passed / len(members) * group_weights.get(group, share) / 100.0
    summary = np.round(summary, 2)
    failed_critical = np.zeros(codes[0].shape, dtype=bool)
    for flags in critical:
        failed_critical |= flags
    return np.where(failed_critical, 0.0, summary)


def decide_kayenta(samples: Samples, policy: PolicyPlan) -> Outcomes:
    """The ``kayenta`` rule: the judge at every step; the first step that does not pass.

    A rate metric is judged on the error samples, a latency metric on the latency
    samples, each array of shape ``(n_rollouts, n_steps, samples_per_step)``. A failing
    step is attributed to its first metric classed High or Low (the reason code).
    """
    rule = policy.rule
    metrics = judged_metrics(policy)
    sides = [
        (samples.canary_error, samples.baseline_error)
        if limits.check.signal == "rate"
        else (samples.canary_latency, samples.baseline_latency)
        for limits in policy.metrics
    ]
    n_rollouts, n_steps = samples.canary_error.shape[:2]
    fails = [np.zeros((n_rollouts, n_steps), dtype=bool) for _ in metrics]
    for step in range(n_steps):
        codes, critical = [], []
        for (x, y), metric in zip(sides, metrics, strict=True):
            code = classify_batch(
                x[:, step], y[:, step], metric, confidence=rule.confidence, tolerance=rule.tolerance
            )
            codes.append(code)
            critical.append(critical_batch(code, x[:, step], y[:, step], metric))
        failing = score_batch(metrics, codes, critical, rule.group_weights) < rule.pass_threshold
        blamed = np.zeros(n_rollouts, dtype=bool)
        for k, code in enumerate(codes):
            mine = failing & (code != 0) & ~blamed
            fails[k][:, step] = mine
            blamed |= mine
        fails[0][:, step] |= failing & ~blamed
    return first_coded_failure(metric_codes(fails), policy)
