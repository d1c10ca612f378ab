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
(:func:`~canary_mc.engine.rules_counts.latency_metric_variance`), so for large ``n``
``d`` is the raw difference; they only set how the two sides are weighed, never the level.
A slower canary raises its ``x``, so its score and ``d``.

Null distributions (lognormal requests, median ``m``, log-sd ``s``):

- sample ``q``-quantile, the ``k = ceil(q n)``-th smallest: ``F_n(x) = I_u(k, n + 1 - k)``,
  ``u = Phi(ln(x / m) / s)`` (the ``k``-th order statistic of ``n`` uniforms is
  ``Beta(k, n + 1 - k)``);
- mean: the model's mean metric is lognormal with log-variance
  ``s_n^2 = ln(1 + (e^{s^2} - 1) / n)`` and the service's mean (``docs/model.md``), so
  ``zeta = (ln(x / m) - s^2 / 2 + s_n^2 / 2) / s_n``.
"""

from __future__ import annotations

import numpy as np

from canary_mc.engine.counts import CountsWorldPlan


def latency_scores(
    latency_ms: np.ndarray, requests: np.ndarray, world: CountsWorldPlan
) -> np.ndarray:
    """Normal scores ``Phi^{-1}(F_n(x))`` of one side's latency metric.

    Parameters
    ----------
    latency_ms : ndarray of float64, shape (n_rollouts, n_steps) or (n_rollouts,)
        The side's metric (ms); NaN where it served no requests.
    requests : ndarray of int64, broadcastable to ``latency_ms``
        Requests behind each metric.
    world : CountsWorldPlan
        The healthy service's latency distribution and the metric.

    Returns
    -------
    ndarray of float64, the shape of ``latency_ms``
        Exactly standard normal for a healthy side; ``-inf`` at a metric of 0 ms, NaN
        where ``requests`` is 0.
    """
    from scipy.special import betainc, ndtr, ndtri

    n = np.broadcast_to(np.asarray(requests, dtype=np.int64), np.shape(latency_ms))
    s = world.latency_log_sigma
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(np.asarray(latency_ms) / world.latency_ms)
        if world.quantile is None:
            s2 = np.log1p(np.expm1(s * s) / n)
            score = (log_ratio - s * s / 2 + s2 / 2) / np.sqrt(s2)
        else:
            q = world.quantile
            k = -((-q.numerator * n) // q.denominator)
            z = log_ratio / s
            low = betainc(k, n + 1 - k, ndtr(z))  # F_n(x)
            high = betainc(n + 1 - k, k, ndtr(-z))  # 1 - F_n(x), precise near 1
            score = np.where(low < 0.5, ndtri(low), -ndtri(high))
    return np.where(n > 0, score, np.nan)


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
