"""Critical values spent by information fraction (Lan & DeMets 1983), for unequal looks.

Pocock's and O'Brien-Fleming's constants (:mod:`canary_mc.engine.rules.boundaries`) assume
every look adds the same information. On the counts model it does not: a 1% stage adds
a fiftieth of a 50% stage's. An alpha-spending function ``f`` (increasing, ``f(0) = 0``,
``f(1) = alpha``) instead fixes how much of the level may be spent by the time the
analysis has reached information fraction ``t_k = I_k / I_K``: the critical value of look
``k`` is the one that makes ``P(first crossing at look k) = f(t_k) - f(t_{k-1})``. The
level is ``alpha`` whatever the information sequence, as long as the statistics have the
canonical joint distribution ``Z_k = S_k / sqrt(I_k)``, ``S`` a Brownian motion observed
at times ``I_k`` (Jennison & Turnbull 2000, ch. 7 and 19).

Spending functions (one-sided level ``alpha``):

- ``obrien_fleming_spending``: ``f(t) = 2 - 2 Phi(Phi^{-1}(1 - alpha/2) / sqrt(t))``;
- ``pocock_spending``: ``f(t) = alpha ln(1 + (e - 1) t)``.

The crossing probabilities are computed by the recursive numerical integration of
Armitage, McPherson & Rowe, here on the score scale ``S`` with one grid for all looks
(spacing a tenth of the smallest increment's standard deviation) and increments of their
own variance ``I_k - I_{k-1}``. A look that adds no information spends nothing: its
critical value is ``+inf``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

SPENDING_CORRECTIONS = ("obrien_fleming_spending", "pocock_spending")
"""The z-test corrections that spend alpha by information fraction."""

GRID_STEP = 0.1
"""Grid spacing in units of the smallest information increment's standard deviation."""

TAIL = 8.0
"""Standard deviations of ``S_k`` kept below the boundary."""

MAX_GRID = 200_000
"""Grid points at most: a huge ratio of largest to smallest look coarsens the grid."""


def spent(correction: str, t: np.ndarray, alpha: float) -> np.ndarray:
    """Cumulative level ``f(t)`` of a spending function at information fractions ``t``.

    Parameters
    ----------
    correction : {"obrien_fleming_spending", "pocock_spending"}
    t : ndarray of float64, values in [0, 1]
    alpha : float
        One-sided overall level, in (0, 1).

    Returns
    -------
    ndarray of float64, the shape of ``t``; ``f(1) = alpha``.
    """
    from scipy.special import ndtr, ndtri

    t = np.asarray(t, dtype=np.float64)
    if correction == "obrien_fleming_spending":
        with np.errstate(divide="ignore"):
            return np.where(t > 0, 2.0 * ndtr(-ndtri(1.0 - alpha / 2.0) / np.sqrt(t)), 0.0)
    if correction == "pocock_spending":
        return alpha * np.log1p((math.e - 1.0) * t)
    raise ValueError(
        f"correction must be one of {', '.join(SPENDING_CORRECTIONS)}, got {correction!r}"
    )


def simpson_weights(m: int, h: float) -> np.ndarray:
    """Simpson's rule weights for ``m`` (odd) points spaced ``h`` apart."""
    w = np.full(m, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return w * (h / 3.0)


def odd_count(m: int) -> int:
    """``m``, or ``m + 1`` if even: Simpson's rule needs an odd number of points."""
    return m if m % 2 else m + 1


def spending_critical_values(
    correction: str, information: tuple[float, ...], alpha: float
) -> tuple[float, ...]:
    """Critical values ``c_1 .. c_K`` on the z scale spent by information fraction.

    Parameters
    ----------
    correction : {"obrien_fleming_spending", "pocock_spending"}
    information : tuple of float, length K
        Cumulative information at each look, nondecreasing, in any unit (only ratios
        matter): ``1 / (1/N_c + 1/N_b)`` of the cumulative request counts for error
        rates, the variance of the running sum for latency. Zero or repeated values are
        looks without new information.
    alpha : float
        One-sided overall level, in (0, 1).

    Returns
    -------
    tuple of float, length K
        Reject at look ``k`` when ``Z_k > c_k``; ``+inf`` where a look adds nothing.
        The overall level is ``alpha`` to about 1e-7 (tested against multivariate-normal
        probabilities and against the equal-information AMR recursion).
    """
    info = np.asarray(information, dtype=np.float64)
    if info.size == 0 or not np.any(info > 0):
        return (math.inf,) * info.size
    scale = float(info.max())
    return _spending_critical_values(correction, tuple((info / scale).tolist()), float(alpha))


@lru_cache(maxsize=256)
def _spending_critical_values(
    correction: str, information: tuple[float, ...], alpha: float
) -> tuple[float, ...]:
    from scipy.optimize import brentq

    info = np.maximum.accumulate(np.maximum(np.asarray(information), 0.0))
    total = spent(correction, info / info[-1], alpha)
    used = [0.0]  # level spent so far (computed, not nominal)

    def bound_at(k: int, crossing: Callable[[float], float], lo: float, hi: float) -> float:
        target = float(total[k]) - used[0]
        if target <= 1e-15:
            return math.inf
        bound = brentq(lambda b: crossing(b) - target, lo, hi, xtol=1e-12, rtol=1e-12)
        used[0] += crossing(bound)
        return bound

    bounds = _walk(info, bound_at)
    return tuple(
        float(b / math.sqrt(i)) if i > 0 else math.inf for b, i in zip(bounds, info, strict=True)
    )


def crossing_probability_info(critical: tuple[float, ...], information: tuple[float, ...]) -> float:
    """``P(Z_k > c_k for some k)`` for canonical ``Z_k = S_k / sqrt(I_k)``.

    Parameters
    ----------
    critical : tuple of float, length K
        Critical values on the z scale (``inf`` allowed).
    information : tuple of float, length K
        Cumulative information, nondecreasing.

    Returns
    -------
    float
        The overall one-sided level (equals :func:`~canary_mc.engine.rules.boundaries.\
crossing_probability` when the information is ``1, 2, ..., K``).
    """
    info = np.maximum.accumulate(np.maximum(np.asarray(information, dtype=np.float64), 0.0))
    info = info / info.max()
    level = [0.0]

    def bound_at(k: int, crossing: Callable[[float], float], lo: float, hi: float) -> float:
        bound = critical[k] * math.sqrt(info[k])
        if math.isfinite(bound):
            level[0] += crossing(bound)
        return bound

    _walk(info, bound_at)
    return level[0]


def _walk(
    info: np.ndarray, bound_at: Callable[[int, Callable[[float], float], float, float], float]
) -> list[float]:
    """Carry the sub-density of ``S_k`` below the bounds through the looks.

    ``bound_at(k, crossing, lo, hi)`` returns look ``k``'s bound on ``S_k`` (``inf``: no
    rejection), given ``crossing(b) = P(not crossed before, S_k > b)`` decreasing on the
    bracket ``[lo, hi]``. Looks without new information get ``inf`` without a call.
    """
    from scipy.signal import fftconvolve
    from scipy.special import ndtr

    increments = np.diff(np.concatenate([[0.0], info]))
    smallest = float(increments[increments > 0].min())
    h = max(GRID_STEP * math.sqrt(smallest), (2 * TAIL + 10.0) * math.sqrt(info[-1]) / MAX_GRID)
    bounds: list[float] = []
    mass = grid = None  # Simpson masses of the sub-density of S on grid, below the bound
    for k in range(info.shape[0]):
        delta = float(increments[k])
        if delta <= 0:
            bounds.append(math.inf)
            continue
        sd = math.sqrt(delta)
        if mass is None:
            # First look with information: S_1 ~ N(0, I_1), crossing in closed form.
            def crossing(b: float, sd=sd) -> float:
                return float(ndtr(-b / sd))

            bound = bound_at(k, crossing, -TAIL * sd, TAIL * sd)
            mass, grid = _first(info[k], bound, h)
        else:

            def crossing(b: float, mass=mass, grid=grid, sd=sd) -> float:
                return float(mass @ ndtr((grid - b) / sd))

            lo, hi = float(grid[-1]) - (TAIL + 2.0) * sd, float(grid[0]) + (TAIL + 2.0) * sd
            bound = bound_at(k, crossing, lo, hi)
            mass, grid = _propagate(mass, grid, delta, bound, info[k], h, fftconvolve)
        bounds.append(bound)
    return bounds


def _first(info: float, bound: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Masses of ``S_1 ~ N(0, info)`` on the grid ``bound - j h`` (or a grid up to
    ``TAIL`` sds if there is no bound)."""
    sd = math.sqrt(info)
    top = min(bound, TAIL * sd)
    m = odd_count(math.ceil((top + TAIL * sd) / h) + 1)
    grid = top - h * np.arange(m)
    density = np.exp(-0.5 * (grid / sd) ** 2) / (sd * math.sqrt(2.0 * math.pi))
    return density * simpson_weights(m, h), grid


def _propagate(mass, grid, delta, bound, info, h, fftconvolve):
    """Sub-density masses of ``S_k`` below ``bound`` from those of ``S_{k-1}``.

    Old grid ``s_j = top_old - j h``, new grid ``x_i = top_new - i h``; the kernel is the
    ``N(0, delta)`` density of ``x_i - s_j = (top_new - top_old) - (i - j) h``.
    """
    sd_new = math.sqrt(info)
    top_new = min(bound, TAIL * sd_new)
    shift = top_new - float(grid[0])
    sd = math.sqrt(delta)
    d_lo = math.ceil((shift - TAIL * sd) / h)  # d = i - j with |shift - d h| <= TAIL sd
    d_hi = math.floor((shift + TAIL * sd) / h)
    d = np.arange(d_lo, d_hi + 1)
    x = (shift - h * d) / sd
    taps = np.exp(-0.5 * x * x) / (sd * math.sqrt(2.0 * math.pi))
    # density_i = sum_j mass_j taps[(i - j) - d_lo]: a full convolution, read at i.
    full = fftconvolve(mass, taps)  # index n = j + (d - d_lo) = i - d_lo
    m = odd_count(math.ceil((top_new + TAIL * sd_new) / h) + 1)
    index = np.arange(m) - d_lo
    inside = (index >= 0) & (index < full.shape[0])
    density = np.zeros(m)
    density[inside] = full[index[inside]]
    density = np.maximum(density, 0.0)  # FFT round-off below zero in the far tails
    grid_new = top_new - h * np.arange(m)
    return density * simpson_weights(m, h), grid_new
