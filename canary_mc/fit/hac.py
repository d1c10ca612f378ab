"""Standard errors that allow for autocorrelation (Newey-West, with Andrews' automatic
bandwidth), shared by the fits of traffic, gauges and the error moments: real metrics are
rarely independent from one interval to the next."""

from __future__ import annotations

import numpy as np


def andrews_lags(scores: np.ndarray) -> int:
    """Data-dependent Bartlett bandwidth (Andrews, 1991, AR(1) plug-in).

    ``S = 1.1447 (alpha T)^(1/3)`` with ``alpha = sum 4 rho^2 s^4 / ((1 - rho)^6 (1 + rho)^2)
    / sum s^4 / (1 - rho)^4`` over the score columns, each fitted by an AR(1) with
    coefficient ``rho`` and innovation variance ``s^2``. Independent scores get (almost)
    no lags, so the intervals keep their coverage; autocorrelated ones get more.
    """
    n = scores.shape[0]
    top, bottom = 0.0, 0.0
    for column in scores.T:
        centred = column - column.mean()
        denominator = float(centred[:-1] @ centred[:-1])
        if denominator <= 0:
            continue
        rho = float(np.clip(centred[1:] @ centred[:-1] / denominator, -0.97, 0.97))
        innovation = float(np.mean((centred[1:] - rho * centred[:-1]) ** 2))
        top += 4 * rho**2 * innovation**2 / ((1 - rho) ** 6 * (1 + rho) ** 2)
        bottom += innovation**2 / (1 - rho) ** 4
    if bottom == 0:
        return 0
    bandwidth = 1.1447 * (top / bottom * n) ** (1.0 / 3.0)
    return int(min(np.floor(bandwidth), n - 1))


def long_run_covariance(scores: np.ndarray, lags: int | None = None) -> np.ndarray:
    """Bartlett-kernel long-run covariance of zero-mean score rows.

    Parameters
    ----------
    scores : ndarray, shape (n, k)
        One row per interval, in time order.
    lags : int, optional
        Bandwidth; default :func:`andrews_lags`.

    Returns
    -------
    ndarray, shape (k, k)
        ``sum_t s_t s_t' + sum_{l=1}^{L} w_l (Gamma_l + Gamma_l')`` with ``w_l = 1 - l/(L+1)``.
    """
    n = scores.shape[0]
    lags = andrews_lags(scores) if lags is None else lags
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
