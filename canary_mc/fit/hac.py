"""Standard errors that allow for autocorrelation (Newey-West), shared by the fits of
traffic and gauges: real metrics are rarely independent from one interval to the next."""

from __future__ import annotations

import numpy as np


def newey_west_lags(n: int) -> int:
    """Bandwidth ``floor(4 (n / 100)^(2/9))`` (Newey and West, 1994)."""
    return int(np.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))


def long_run_covariance(scores: np.ndarray, lags: int | None = None) -> np.ndarray:
    """Bartlett-kernel long-run covariance of zero-mean score rows.

    Parameters
    ----------
    scores : ndarray, shape (n, k)
        One row per interval, in time order.
    lags : int, optional
        Bandwidth; default :func:`newey_west_lags`.

    Returns
    -------
    ndarray, shape (k, k)
        ``sum_t s_t s_t' + sum_{l=1}^{L} w_l (Gamma_l + Gamma_l')`` with ``w_l = 1 - l/(L+1)``.
    """
    n = scores.shape[0]
    lags = newey_west_lags(n) if lags is None else lags
    total = scores.T @ scores
    for lag in range(1, min(lags, n - 1) + 1):
        gamma = scores[lag:].T @ scores[:-lag]
        total += (1.0 - lag / (lags + 1.0)) * (gamma + gamma.T)
    return total


def lag1_autocorrelation(residuals: np.ndarray) -> float:
    """Lag-1 sample autocorrelation of a series (NaN-free, time-ordered)."""
    r = residuals - residuals.mean()
    denominator = float(r @ r)
    return float(r[1:] @ r[:-1]) / denominator if denominator > 0 else 0.0
