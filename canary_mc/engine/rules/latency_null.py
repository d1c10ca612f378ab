"""The latency evidence of the statistical rules on counts, exact under H0 at any traffic.

The z-test, mSPRT and SPRT on counts treat a step's latency difference as normal with
the healthy service's variance ``v_c + v_b``. For the raw difference of the two sides'
metrics that fails when they serve different numbers of requests: the sample p99 of 20
lognormal requests is biased upward far more than that of 180, so a healthy canary at
90% traffic has a positive mean difference (14.8% false alarms instead of 5% for Pocock
over 10 looks at 200 requests per step); the skew of small samples adds to it.

Each side's metric ``x`` over ``n`` requests is therefore mapped through its exact null
distribution function ``F_n`` to a normal score ``zeta = Phi^{-1}(F_n(x))``, which is
exactly standard normal for a healthy side, and the evidence of the step is

    ``d = sqrt(v_c) zeta_c - sqrt(v_b) zeta_b``,

exactly ``N(0, v_c + v_b)`` under H0 whatever ``n_c`` and ``n_b`` are. The weights
``sqrt(v)`` are the asymptotic standard deviations
(:func:`~canary_mc.engine.rules.rules_counts.latency_metric_variance`), so for large ``n``
``d`` is the raw difference; they only set how the two sides are weighed, never the level.
A slower canary raises its ``x``, so its score and ``d``.

Null distributions (lognormal requests, median ``m``, log-sd ``s``):

- sample ``q``-quantile, the ``k = ceil(q n)``-th smallest: ``F_n(x) = I_u(k, n + 1 - k)``,
  ``u = Phi(ln(x / m) / s)`` (the ``k``-th order statistic of ``n`` uniforms is
  ``Beta(k, n + 1 - k)``); tabulated once per request count as a cubic spline of the
  exact map (error about 1e-9), since ``betainc`` at large ``n`` is slow;
- mean: the model's mean metric is lognormal with log-variance
  ``s_n^2 = ln(1 + (e^{s^2} - 1) / n)`` and the service's mean (``docs/model.md``), so
  ``zeta = (ln(x / m) - s^2 / 2 + s_n^2 / 2) / s_n``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from canary_mc.engine.noise.counts import CountsWorldPlan


def latency_scores(
    latency_ms: np.ndarray, requests: np.ndarray, world: CountsWorldPlan
) -> np.ndarray:
    """Normal scores ``Phi^{-1}(F_n(x))`` of one side's latency metric.

    Parameters
    ----------
    latency_ms : ndarray of float64, shape (n_rollouts, n_steps) or (n_rollouts,)
        The side's metric (ms); NaN where it served no requests.
    requests : ndarray of int64, broadcastable to ``latency_ms``
        Requests behind each metric (few distinct values: the traffic plan's).
    world : CountsWorldPlan
        The healthy service's latency distribution and the metric.

    Returns
    -------
    ndarray of float64, the shape of ``latency_ms``
        Standard normal for a healthy side (quantile metrics: to about 1e-9, see
        :func:`_quantile_score_spline`); ``-inf`` at a metric of 0 ms, NaN where
        ``requests`` is 0.
    """
    x = np.asarray(latency_ms, dtype=np.float64)
    n = np.broadcast_to(np.asarray(requests, dtype=np.int64), x.shape)
    score = np.full(x.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(x / world.latency_ms)
        for value in np.unique(np.asarray(requests)).tolist():
            if value <= 0:
                continue
            here = n == value
            score[here] = _scores(log_ratio[here], value, world)
    return score


def _scores(log_ratio: np.ndarray, n: int, world: CountsWorldPlan) -> np.ndarray:
    """Scores of metrics over ``n`` requests, from ``ln(x / m)`` (1-D)."""
    s = world.latency_log_sigma
    if world.quantile is None:
        s2 = math.log1p(math.expm1(s * s) / n)
        return (log_ratio - s * s / 2 + s2 / 2) / math.sqrt(s2)
    q = world.quantile
    k = -((-q.numerator * n) // q.denominator)
    z = log_ratio / s
    grid, spline = _quantile_score_spline(n, k)
    inside = (z >= grid[0]) & (z <= grid[-1])
    out = np.empty(z.shape)
    out[inside] = spline(z[inside])
    out[~inside] = _exact_quantile_scores(z[~inside], n, k)  # the far tails (and NaN)
    return out


def _exact_quantile_scores(z: np.ndarray, n: int, k: int) -> np.ndarray:
    """``Phi^{-1}(I_{Phi(z)}(k, n + 1 - k))``, both tails computed directly."""
    from scipy.special import betainc, ndtr, ndtri

    low = betainc(k, n + 1 - k, ndtr(z))  # F_n(x)
    high = betainc(n + 1 - k, k, ndtr(-z))  # 1 - F_n(x), precise near 1
    return np.where(low < 0.5, ndtri(low), -ndtri(high))


SPLINE_SCORES = np.linspace(-9.0, 9.0, 1441)
"""Scores at which the exact map is tabulated for the spline (spacing 1/80)."""


@lru_cache(maxsize=1024)
def _quantile_score_spline(n: int, k: int):
    """The score as a function of ``z = ln(x/m)/s`` for the ``k``-th of ``n``, on
    ``|score| <= 9``: a cubic spline through the exact inverse map
    ``z = Phi^{-1}(I^{-1}(Phi(score); k, n + 1 - k))``. WHY: ``betainc`` at large ``n``
    costs microseconds per metric; the spline is exact to about 1e-9 (tested) and a
    metric beyond 9 sd (probability 1e-19 under H0) is scored exactly.

    Returns
    -------
    grid : ndarray of float64
        The tabulated ``z``, increasing.
    spline : callable
    """
    from scipy.interpolate import CubicSpline
    from scipy.special import betaincinv, ndtr, ndtri

    zeta = SPLINE_SCORES
    lower = zeta < 0
    z = np.empty(zeta.shape)
    z[lower] = ndtri(betaincinv(k, n + 1 - k, ndtr(zeta[lower])))
    z[~lower] = -ndtri(betaincinv(n + 1 - k, k, ndtr(-zeta[~lower])))
    keep = np.concatenate([[True], np.diff(z) > 0])  # strictly increasing for the spline
    return z[keep], CubicSpline(z[keep], zeta[keep])


def latency_evidence(
    canary_ms: np.ndarray,
    canary_requests: np.ndarray,
    baseline_ms: np.ndarray,
    baseline_requests: np.ndarray,
    canary_variance: np.ndarray,
    baseline_variance: np.ndarray,
    world: CountsWorldPlan,
) -> np.ndarray:
    """A step's latency evidence ``sqrt(v_c) zeta_c - sqrt(v_b) zeta_b`` (ms).

    Parameters
    ----------
    canary_ms, baseline_ms : ndarray of float64, shape (n_rollouts, n_steps) or (n_rollouts,)
        Each side's latency metric.
    canary_requests, baseline_requests : ndarray of int64, broadcastable to them
    canary_variance, baseline_variance : ndarray of float64, broadcastable to them
        The weights' squares ``v`` (ms^2), infinite where a side served nothing.
    world : CountsWorldPlan

    Returns
    -------
    ndarray of float64
        Exactly ``N(0, v_c + v_b)`` for a healthy canary; NaN where a side has no data.
    """
    zeta_c = latency_scores(canary_ms, canary_requests, world)
    zeta_b = latency_scores(baseline_ms, baseline_requests, world)
    with np.errstate(invalid="ignore"):
        return np.sqrt(canary_variance) * zeta_c - np.sqrt(baseline_variance) * zeta_b
