"""Exact false-alarm probabilities of the counts z-test and mSPRT, by dynamic programming.

Independent of the engine: the joint distribution of the cumulative error counts
``(E_c, E_b)`` of a healthy canary is carried look by look (binomial increments, the
service's rate on both sides); at each look the mass where the rule would fire is
removed and added to the level. Only the rule's critical values come from canary-mc
(they are checked against published constants and multivariate-normal probabilities
elsewhere). Steps must have requests on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import signal, stats

Decision = Callable[[int, np.ndarray, np.ndarray, float, float], np.ndarray]
"""``decide(k, ec, eb, nc, nb)``: where the rule fires at look ``k`` (0-based), on the
grids of cumulative errors ``ec`` (column) and ``eb`` (row), cumulative requests
``nc, nb``."""


def pooled_z(ec: np.ndarray, eb: np.ndarray, nc: float, nb: float) -> np.ndarray:
    """The textbook pooled two-proportion z; NaN where the pooled rate is 0 or 1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (ec + eb) / (nc + nb)
        z = (ec / nc - eb / nb) / np.sqrt(p * (1 - p) * (1 / nc + 1 / nb))
    return np.where(np.isfinite(z), z, np.nan)


def ztest_decision(critical: Sequence[float]) -> Decision:
    def decide(k, ec, eb, nc, nb):
        return np.nan_to_num(pooled_z(ec, eb, nc, nb), nan=-np.inf) > critical[k]

    return decide


def msprt_decision(alpha: float, tau: float, v1: float) -> Decision:
    """Normal mixture on the pooled z with ``r = tau^2 v1 / (1/N_c + 1/N_b)``."""

    def decide(k, ec, eb, nc, nb):
        z = np.nan_to_num(pooled_z(ec, eb, nc, nb), nan=-np.inf)
        r = tau * tau * v1 / (1 / nc + 1 / nb)
        with np.errstate(invalid="ignore"):
            log_lr = -0.5 * math.log1p(r) + r * z * z / (2 * (1 + r))
            return (z > 0) & (log_lr >= math.log(1 / alpha))

    return decide


def exact_size(
    canary_requests: Sequence[int],
    baseline_requests: Sequence[int],
    error_rate: float,
    decide: Decision,
    tail: float = 1e-13,
) -> float:
    """P(the rule ever fires) for a healthy canary: both sides ``Bin(n, error_rate)``.

    The count grids stop where the remaining binomial tail is below ``tail``; the result
    is exact to about that much.
    """
    total_c, total_b = int(sum(canary_requests)), int(sum(baseline_requests))
    max_c = int(stats.binom.isf(tail, total_c, error_rate)) + 1
    max_b = int(stats.binom.isf(tail, total_b, error_rate)) + 1
    mass = np.zeros((1, 1))
    mass[0, 0] = 1.0
    fired = 0.0
    nc = nb = 0
    for k, (n1, n2) in enumerate(zip(canary_requests, baseline_requests, strict=True)):
        nc, nb = nc + n1, nb + n2
        kc = stats.binom.pmf(np.arange(min(n1, max_c) + 1), n1, error_rate)
        kb = stats.binom.pmf(np.arange(min(n2, max_b) + 1), n2, error_rate)
        mass = signal.fftconvolve(mass, np.outer(kc, kb))[: max_c + 1, : max_b + 1]
        mass = np.maximum(mass, 0.0)
        ec = np.arange(mass.shape[0], dtype=np.float64)[:, None]
        eb = np.arange(mass.shape[1], dtype=np.float64)[None, :]
        fire = decide(k, ec, eb, float(nc), float(nb))
        fired += float(mass[fire].sum())
        mass = np.where(fire, 0.0, mass)
    return fired
