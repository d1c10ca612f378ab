"""One request's lognormal latency (median ``latency_ms``, log-sd ``latency_log_sigma``),
fitted to per-interval quantiles or to Prometheus histogram buckets.

The simulator draws every request's latency independently from the same lognormal, so
an interval's sample quantile at level ``q`` over ``n`` requests is
``median * exp(sigma * Z_(k))``, with ``Z_(k)`` the ``k = ceil(q n)``-th smallest of ``n``
standard normals.

- **Quantiles** (:func:`fit_latency_quantiles`): least squares of ``log y`` on
  ``E[Z_(k)]`` (the exact expected normal order statistic, by quadrature over its Beta
  law; ``Phi^{-1}(q)`` when request counts are unknown), pooled over intervals and
  levels, so ``log median`` is the intercept and ``sigma`` the slope. Standard errors are
  cluster-robust by interval, which stays honest when the quantiles of one interval
  move together or vary more than the model says.
- **Buckets** (:func:`fit_latency_buckets`): maximum likelihood of the interval-censored
  lognormal on the pooled bucket counts, with the same cluster-robust (sandwich)
  standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from canary_mc.fit.estimates import Z95, Estimate

ORDER_STAT_GRID = 241
"""Points of the quadrature for a normal order statistic's mean and variance."""


@dataclass(frozen=True)
class LatencyFit:
    """Fitted per-request latency.

    Attributes
    ----------
    latency_ms : Estimate
        Median latency of one request (ms).
    latency_log_sigma : Estimate
        Log-sd of one request's latency.
    method : str
    """

    latency_ms: Estimate
    latency_log_sigma: Estimate
    method: str


def order_statistic_moments(level: np.ndarray, requests: np.ndarray | None):
    """Mean and variance of ``Z_(k)``, the ``ceil(q n)``-th smallest of ``n`` standard normals.

    Parameters
    ----------
    level : ndarray, shape (m,)
        Quantile levels ``q`` in (0, 1).
    requests : ndarray of int, shape (m,), or None
        ``n``; ``None`` gives the large-sample limit ``(Phi^{-1}(q), 0)``.

    Returns
    -------
    mean, variance : ndarray, shape (m,)
    """
    q = np.asarray(level, dtype=np.float64)
    if requests is None:
        return special.ndtri(q), np.zeros_like(q)
    n = np.maximum(np.asarray(requests, dtype=np.int64), 1)
    k = np.ceil(q * n - 1e-9).astype(np.int64).clip(1, n)
    pairs, inverse = np.unique(np.column_stack([k, n]), axis=0, return_inverse=True)
    kk, nn = pairs[:, 0].astype(np.float64), pairs[:, 1].astype(np.float64)
    # Centre and width from the Beta law of U_(k), mapped through Phi^{-1}.
    u_mean = kk / (nn + 1)
    u_sd = np.sqrt(u_mean * (1 - u_mean) / (nn + 2))
    lo = special.ndtri(np.clip(u_mean - 12 * u_sd, 1e-300, None))
    hi = special.ndtri(np.clip(u_mean + 12 * u_sd, None, 1 - 1e-16))
    lo = np.maximum(np.where(np.isfinite(lo), lo, -38.0), -38.0)
    hi = np.minimum(np.where(np.isfinite(hi), hi, 8.3), 8.3)
    grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, ORDER_STAT_GRID)[None, :]
    # Density of Z_(k): Beta(k, n + 1 - k) at Phi(z), times phi(z); constants cancel.
    log_density = (
        (kk - 1)[:, None] * special.log_ndtr(grid)
        + (nn - kk)[:, None] * special.log_ndtr(-grid)
        - 0.5 * grid * grid
    )
    weight = np.exp(log_density - log_density.max(axis=1, keepdims=True))
    weight /= weight.sum(axis=1, keepdims=True)
    mean = (weight * grid).sum(axis=1)
    variance = (weight * (grid - mean[:, None]) ** 2).sum(axis=1)
    inverse = inverse.reshape(-1)
    return mean[inverse], variance[inverse]


def fit_latency_quantiles(
    quantiles: dict[float, np.ndarray], requests: np.ndarray | None
) -> LatencyFit:
    """Fit the lognormal to per-interval latency quantiles.

    Parameters
    ----------
    quantiles : dict of float to ndarray, shape (n_intervals,)
        Level ``q`` (e.g. 0.99) to that quantile per interval, in ms; at least two levels.
    requests : ndarray, shape (n_intervals,), or None
        Requests per interval; ``None`` treats each interval as large.

    Returns
    -------
    LatencyFit
    """
    levels = sorted(quantiles)
    n_intervals = quantiles[levels[0]].shape[0]
    log_y = np.column_stack([np.log(quantiles[q]) for q in levels])  # (T, L)
    z = np.empty_like(log_y)
    for j, q in enumerate(levels):
        z[:, j] = order_statistic_moments(np.full(n_intervals, q), requests)[0]
    design = np.column_stack([np.ones(log_y.size), z.reshape(-1)])
    y = log_y.reshape(-1)
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = (y - design @ beta).reshape(n_intervals, len(levels))
    # Cluster-robust (by interval) sandwich with the CR1 small-sample factor.
    scores = np.einsum("tl,tlk->tk", resid, design.reshape(n_intervals, len(levels), 2))
    bread = np.linalg.inv(design.T @ design)
    factor = n_intervals / (n_intervals - 1) * (y.size - 1) / (y.size - 2)
    cov = factor * bread @ (scores.T @ scores) @ bread
    method = "least squares on log quantiles, cluster-robust SE"
    return _latency_estimates(beta, cov, method)


def _latency_estimates(theta: np.ndarray, cov: np.ndarray, method: str) -> LatencyFit:
    """``(log median, sigma)`` and covariance to estimates; the median's interval is
    computed on the log scale."""
    mu, sigma = float(theta[0]), float(theta[1])
    se_mu = float(np.sqrt(cov[0, 0]))
    median = Estimate(
        value=float(np.exp(mu)),
        se=float(np.exp(mu) * se_mu),
        low=float(np.exp(mu - Z95 * se_mu)),
        high=float(np.exp(mu + Z95 * se_mu)),
        method=method,
        unit="ms",
    )
    log_sigma = Estimate.wald(sigma, float(np.sqrt(cov[1, 1])), method=method, unit="log-sd")
    return LatencyFit(latency_ms=median, latency_log_sigma=log_sigma, method=method)


def bucket_probabilities(edges_ms: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """Probability of each histogram bucket ``(edge_{b-1}, edge_b]`` under the lognormal.

    Parameters
    ----------
    edges_ms : ndarray, shape (n_buckets,)
        Upper edges in ms, increasing; the last may be ``inf``.

    Returns
    -------
    ndarray, shape (n_buckets,)
    """
    with np.errstate(divide="ignore"):
        cdf = special.ndtr((np.log(edges_ms) - mu) / sigma)
    return np.diff(np.concatenate([[0.0], cdf]))


def fit_latency_buckets(edges_ms: np.ndarray, counts: np.ndarray) -> LatencyFit:
    """Maximum-likelihood fit of the lognormal to histogram bucket counts.

    Parameters
    ----------
    edges_ms : ndarray, shape (n_buckets,)
        Upper bucket edges in ms (Prometheus ``le``), increasing, last usually ``inf``.
    counts : ndarray, shape (n_intervals, n_buckets)
        Requests per interval in each bucket (not cumulative).

    Returns
    -------
    LatencyFit
        Cluster-robust (by interval) standard errors.
    """
    counts = np.asarray(counts, dtype=np.float64)
    pooled = counts.sum(axis=0)
    edges = np.asarray(edges_ms, dtype=np.float64)

    def log_probs(theta: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(bucket_probabilities(edges, theta[0], np.exp(theta[1])), 1e-300))

    def negative(theta: np.ndarray) -> float:
        return -float(pooled @ log_probs(theta))

    # Start from the pooled empirical quantiles at the bucket edges.
    cdf = np.cumsum(pooled) / pooled.sum()
    inside = (cdf > 0.02) & (cdf < 0.98) & np.isfinite(edges)
    if inside.sum() >= 2:
        slope, intercept = np.polyfit(special.ndtri(cdf[inside]), np.log(edges[inside]), 1)
        start = np.array([intercept, np.log(max(slope, 1e-3))])
    else:
        finite = edges[np.isfinite(edges)]
        start = np.array([np.log(np.median(finite)), 0.0])
    best = optimize.minimize(
        negative,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 4000},
    )
    theta = best.x
    # Sandwich on (mu, sigma): per-interval scores by central differences of log p_b.
    h = 1e-5
    point = np.array([theta[0], np.exp(theta[1])])

    def logp(mu: float, sigma: float) -> np.ndarray:
        return np.log(np.maximum(bucket_probabilities(edges, mu, sigma), 1e-300))

    d_mu = (logp(point[0] + h, point[1]) - logp(point[0] - h, point[1])) / (2 * h)
    d_sigma = (logp(point[0], point[1] + h) - logp(point[0], point[1] - h)) / (2 * h)
    jac = np.column_stack([d_mu, d_sigma])  # (B, 2)
    scores = counts @ jac  # (T, 2)
    probs = bucket_probabilities(edges, point[0], point[1])
    # Fisher information of the pooled multinomial: N * sum_b p_b grad grad'.
    information = pooled.sum() * (jac * probs[:, None]).T @ jac
    bread = np.linalg.inv(information)
    n = counts.shape[0]
    cov = n / (n - 1) * bread @ (scores.T @ scores) @ bread
    return _latency_estimates(point, cov, "maximum likelihood on buckets, cluster-robust SE")
