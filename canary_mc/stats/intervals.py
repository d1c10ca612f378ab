"""Confidence intervals for the rates canary-mc prints."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95
"""Two-sided confidence level of every interval canary-mc reports."""


def wilson_interval(
    successes: int | np.ndarray, n: int | np.ndarray, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (no continuity correction).

    Chosen over the normal (Wald) interval because it keeps close to its nominal
    coverage for rates near 0 or 1 and for small ``n``, which is where false-alarm
    rates live.

    Parameters
    ----------
    successes : int or ndarray of int
        Number of events, ``0 <= successes <= n``.
    n : int or ndarray of int
        Number of trials, > 0.
    confidence : float
        Two-sided level in (0, 1).

    Returns
    -------
    lo, hi : ndarray of float64
        Bounds in [0, 1], broadcast to the shape of the inputs.

    Examples
    --------
    >>> lo, hi = wilson_interval(5, 100)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.0215, 0.1118)
    """
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    k = np.asarray(successes)
    n = np.asarray(n)
    p = k / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At k = 0 and k = n the bound is exactly 0 or 1; the formula leaves rounding dust,
    # which would put the estimate itself outside its interval.
    lo = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return lo, hi


MIN_ROLLOUTS_FOR_MEAN_INTERVAL = 30
"""Below this many observations the normal approximation is not trusted: no interval."""


def mean_interval(
    total: int,
    total_sq: int,
    n: int,
    *,
    bounds: tuple[float, float] = (-np.inf, np.inf),
    confidence: float = CONFIDENCE,
) -> tuple[float, float | None, float | None]:
    """Normal-approximation interval for the mean of integer observations.

    The sample variance is computed exactly in integers, ``(n * sum_sq - sum**2) /
    (n * (n - 1))``, so no precision is lost however many rollouts were summed.

    Parameters
    ----------
    total, total_sq : int
        Sum and sum of squares of the ``n`` observations.
    n : int
        Number of observations, > 0.
    bounds : (float, float)
        Range the observations (so the mean) cannot leave; the interval is cut to it.
    confidence : float
        Two-sided level in (0, 1).

    Returns
    -------
    mean : float
    lo, hi : float or None
        ``None`` below :data:`MIN_ROLLOUTS_FOR_MEAN_INTERVAL` observations.
    """
    mean = total / n
    if n < MIN_ROLLOUTS_FOR_MEAN_INTERVAL:
        return mean, None, None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    variance = (n * total_sq - total * total) / (n * (n - 1))
    half = z * (variance / n) ** 0.5
    return mean, max(mean - half, bounds[0]), min(mean + half, bounds[1])
