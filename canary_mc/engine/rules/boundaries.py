"""Critical values of repeated one-sided z-tests: none, Bonferroni, Pocock, O'Brien-Fleming.

A test looks ``K`` times at ``Z_k = S_k / sqrt(k)``, ``S_k`` a sum of ``k`` independent
standard normals, and rejects at the first look with ``Z_k > c_k``. The overall one-sided
level is ``P(some Z_k > c_k)``; :func:`crossing_probability` computes it by the recursive
numerical integration of Armitage, McPherson & Rowe (1969) (Jennison & Turnbull 2000,
ch. 19). Pocock's constant ``c_P`` and O'Brien-Fleming's ``c_B`` (``c_k = c_B sqrt(K/k)``)
are the values that make this level ``alpha``. numpy has no normal CDF, so the transition
kernel uses only ``exp`` and the tails ``math.erfc``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from statistics import NormalDist
from typing import Any

import numpy as np

from canary_mc.engine.rules.spending import (
    SPENDING_CORRECTIONS,
    odd_count,
    simpson_weights,
    spending_critical_values,
)
from canary_mc.errors import ConfigError

GRID_STEP = 0.1
"""Grid spacing in units of one look's standard deviation (Simpson's rule)."""

TAIL = 8.0
"""Standard deviations kept below the boundary; the mass beyond is below 1e-15."""


def normal_quantile(p: float) -> float:
    """``Phi^{-1}(p)`` for ``0 < p < 1``."""
    return NormalDist().inv_cdf(p)


def _upper_tail(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * math.erfc(v / math.sqrt(2.0)) for v in x.tolist()])


def crossing_probability(bounds: tuple[float, ...]) -> float:
    """Probability that ``S_k > bounds[k-1] * sqrt(k)`` at some look ``k = 1..K``.

    Parameters
    ----------
    bounds : tuple of float, length K
        Critical values ``c_k`` on the z scale.

    Returns
    -------
    float
        The overall one-sided level, accurate to about 1e-7 (see the tests against the
        published AMR, Pocock and O'Brien-Fleming values).
    """
    h = GRID_STEP
    upper = [c * math.sqrt(k) for k, c in enumerate(bounds, start=1)]
    total = 0.5 * math.erfc(upper[0] / math.sqrt(2.0))
    # Sub-density of S_1 on its continuation grid y_j = upper - j h (j = 0 .. m-1).
    m = odd_count(math.ceil((upper[0] + TAIL) / h) + 1)
    grid = upper[0] - h * np.arange(m)
    density = np.exp(-0.5 * grid * grid) / math.sqrt(2.0 * math.pi)
    for k in range(2, len(bounds) + 1):
        mass = density * simpson_weights(density.shape[0], h)
        shift = upper[k - 1] - upper[k - 2]
        # Crossing at look k: sum_j mass_j * P(eps > upper_k - y_j), upper_k - y_j = shift + j h.
        reach = min(mass.shape[0], max(0, int((TAIL - shift) / h) + 2))
        total += float(mass[:reach] @ _upper_tail(shift + h * np.arange(reach)))
        # Continuation density at s_i = upper_k - i h: sum_j mass_j phi(shift + (j - i) h).
        d_lo = math.ceil((-TAIL - shift) / h)
        d_hi = math.floor((TAIL - shift) / h)
        d = np.arange(d_lo, d_hi + 1)
        x = shift + h * d
        taps = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        full = np.convolve(mass, taps[::-1])
        m = odd_count(math.ceil((upper[k - 1] + TAIL * math.sqrt(k)) / h) + 1)
        index = np.arange(m) + d_hi
        inside = (index >= 0) & (index < full.shape[0])
        density = np.zeros(m)
        density[inside] = full[index[inside]]
    return total


def _solve(level: Callable[[float], float], alpha: float, lo: float, hi: float) -> float:
    """The ``c`` in ``[lo, hi]`` with ``level(c) = alpha``; ``level`` decreasing."""
    f_lo, f_hi = level(lo) - alpha, level(hi) - alpha
    side = 0
    for _ in range(60):
        # Regula falsi, Illinois variant: superlinear, and never leaves the bracket.
        c = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        f = level(c) - alpha
        if abs(f) < 1e-10 or hi - lo < 1e-9:
            return c
        if f > 0:
            lo, f_lo = c, f
            if side == -1:
                f_hi /= 2
            side = -1
        else:
            hi, f_hi = c, f
            if side == 1:
                f_lo /= 2
            side = 1
    return c


@lru_cache(maxsize=256)
def critical_values(correction: str, n_looks: int, alpha: float) -> tuple[float, ...]:
    """Critical values ``c_1 .. c_K`` of a one-sided repeated z-test.

    Parameters
    ----------
    correction : {"none", "bonferroni", "pocock", "obrien_fleming", \
"obrien_fleming_spending", "pocock_spending"}
        The spending corrections (:mod:`canary_mc.engine.rules.spending`) here assume equal
        information per look; pass the real information to
        :func:`~canary_mc.engine.rules.spending.spending_critical_values` where it is not.
    n_looks : int
        ``K``, the number of looks of one analysis, >= 1.
    alpha : float
        One-sided level in (0, 1): per look for ``none``; overall for the others.

    Returns
    -------
    tuple of float, length K
        On the z scale: reject at look ``k`` when ``Z_k > c_k``.
    """
    if correction == "none":
        return (normal_quantile(1 - alpha),) * n_looks
    if correction == "bonferroni":
        return (normal_quantile(1 - alpha / n_looks),) * n_looks
    if correction in SPENDING_CORRECTIONS:  # equal information per look
        return spending_critical_values(correction, tuple(range(1, n_looks + 1)), alpha)
    if n_looks == 1:
        return (normal_quantile(1 - alpha),)
    lo, hi = normal_quantile(1 - alpha), normal_quantile(1 - alpha / n_looks) + 0.1
    if correction == "pocock":
        c = _solve(lambda c: crossing_probability((c,) * n_looks), alpha, lo, hi)
        return (c,) * n_looks
    if correction == "obrien_fleming":

        def shape(c: float) -> tuple[float, ...]:
            return tuple(c * math.sqrt(n_looks / k) for k in range(1, n_looks + 1))

        c = _solve(lambda c: crossing_probability(shape(c)), alpha, lo, hi)
        return shape(c)
    raise ValueError(
        f"correction must be none, bonferroni, pocock or obrien_fleming, got {correction!r}"
    )


def look_critical_values(
    correction: str, alpha: float, information: np.ndarray
) -> tuple[float, ...]:
    """Critical values of an analysis whose looks carry ``information`` (cumulative).

    The spending corrections use the information itself; the others depend only on the
    number of looks ``K = len(information)``.

    Parameters
    ----------
    correction : str
        As for :func:`critical_values`.
    alpha : float
    information : ndarray of float64, shape (K,)
        Cumulative information at each look (see
        :func:`~canary_mc.engine.rules.spending.spending_critical_values`).

    Returns
    -------
    tuple of float, length K
    """
    if correction in SPENDING_CORRECTIONS:
        return spending_critical_values(correction, tuple(np.asarray(information).tolist()), alpha)
    return critical_values(correction, len(information), alpha)


def ztest_critical_values(rule: Any, information: Sequence[float]) -> tuple[float, ...]:
    """Critical values of a ``ztest`` rule's analysis whose looks carry ``information``.

    ``correction: calibrated`` uses the rule's own ``critical_value`` at every look, a
    constant found by simulating the healthy canary on the file's traffic plan
    (:func:`canary_mc.tune.calibrate.calibrate_experiment`); the others are
    :func:`look_critical_values` (the spending corrections by information fraction, the
    textbook ones by the number of looks).

    Parameters
    ----------
    rule : ZTestRule
        With its ``alpha_split`` applied.
    information : sequence of float, length K
        Cumulative information at each look; equal increments (``1, 2, ..., K``) where
        every look carries the same.

    Raises
    ------
    ConfigError
        ``calibrated`` without a ``critical_value`` (the experiment was not calibrated).
    """
    if rule.correction == "calibrated":
        if rule.critical_value is None:
            raise ConfigError(
                "policy.rule.correction: calibrated needs its critical value: run the file "
                "with `canary-mc run` (which calibrates it) or set policy.rule.critical_value"
            )
        return (float(rule.critical_value),) * len(information)
    return look_critical_values(rule.correction, rule.alpha, information)
