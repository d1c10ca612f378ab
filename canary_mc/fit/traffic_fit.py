"""Requests per interval and their daily cycle.

The simulator's traffic is deterministic: step ``j`` carries
``requests_per_step * (1 + a * sin(2 pi j / P))`` requests. :func:`fit_traffic` fits
``R (1 + a sin(2 pi t / P + phase))`` by least squares, as the linear model
``b0 + b1 sin(2 pi t / P) + b2 cos(2 pi t / P)`` at the known period ``P``, so
``R = b0`` and ``a = sqrt(b1^2 + b2^2) / b0``. Standard errors are Newey-West
(autocorrelation-consistent), amplitude's by the delta method. The simulator has no
phase: every rollout starts at the cycle's rising mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from canary_mc.fit.estimates import Estimate, format_p
from canary_mc.fit.hac import lag1_autocorrelation, long_run_covariance


def _p(p: float) -> str:
    text = format_p(p)
    return text if text.startswith("<") else f"= {text}"


CYCLE_ALPHA = 0.01
"""A daily cycle is reported when the test of zero amplitude rejects at this level."""


@dataclass(frozen=True)
class TrafficFit:
    """Fitted traffic.

    Attributes
    ----------
    requests_per_step : Estimate
        Mean requests per interval.
    diurnal_amplitude : Estimate or None
        Relative amplitude ``a``; ``None`` when the data shows no cycle (see ``cycle_note``).
    period_steps : int
        Cycle length in intervals that was fitted.
    phase : float
        Phase in radians (information only; the simulator has none).
    cycle_p_value : float or None
        Wald test of zero amplitude (Newey-West); ``None`` when not testable.
    cycle_note : str
        Why a cycle is or is not reported.
    residual_cv : float
        Standard deviation of the requests around the fitted curve over their mean.
    lag1 : float
        Lag-1 autocorrelation of those residuals.
    """

    requests_per_step: Estimate
    diurnal_amplitude: Estimate | None
    period_steps: int
    phase: float
    cycle_p_value: float | None
    cycle_note: str
    residual_cv: float
    lag1: float
    fitted: np.ndarray


def fit_traffic(steps: np.ndarray, requests: np.ndarray, *, period_steps: int) -> TrafficFit:
    """Fit the mean and the daily cycle of requests per interval.

    Parameters
    ----------
    steps : ndarray of int, shape (n_intervals,)
        Interval index of each observation since the first (gaps leave holes).
    requests : ndarray, shape (n_intervals,)
        Requests per interval.
    period_steps : int
        Cycle length in intervals (a day).

    Returns
    -------
    TrafficFit
    """
    y = np.asarray(requests, dtype=np.float64)
    t = np.asarray(steps, dtype=np.float64)
    span = int(t[-1] - t[0]) + 1
    angle = 2.0 * np.pi * t / period_steps
    covers_cycle = span >= period_steps
    design = (
        np.column_stack([np.ones_like(t), np.sin(angle), np.cos(angle)])
        if covers_cycle
        else np.ones((t.shape[0], 1))
    )
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ beta
    resid = y - fitted
    bread = np.linalg.inv(design.T @ design)
    cov = bread @ long_run_covariance(design * resid[:, None]) @ bread
    method = "least squares, Newey-West SE"
    mean = Estimate.wald(float(beta[0]), float(np.sqrt(cov[0, 0])), method=method, unit="requests")
    amplitude = None
    phase = 0.0
    p_value = None
    if not covers_cycle:
        note = (
            f"no cycle fitted: the data spans {span} intervals, less than one "
            f"{period_steps}-interval cycle"
        )
    else:
        b1, b2 = float(beta[1]), float(beta[2])
        wald = float(beta[1:] @ np.linalg.solve(cov[1:, 1:], beta[1:]))
        p_value = float(stats.chi2.sf(wald, 2))
        a = np.hypot(b1, b2) / beta[0]
        phase = float(np.arctan2(b2, b1))
        # Delta method for a = |(b1, b2)| / b0.
        grad = np.array([-a / beta[0], b1 / (a * beta[0] ** 2), b2 / (a * beta[0] ** 2)])
        se = float(np.sqrt(grad @ cov @ grad))
        if p_value < CYCLE_ALPHA:
            amplitude = Estimate.wald(float(a), se, method=method, unit="fraction", floor=0.0)
            note = f"daily cycle (p {_p(p_value)} for no cycle)"
        else:
            note = f"no cycle: amplitude {a:.3f} is not significant (p {_p(p_value)})"
    return TrafficFit(
        requests_per_step=mean,
        diurnal_amplitude=amplitude,
        period_steps=period_steps,
        phase=phase,
        cycle_p_value=p_value,
        cycle_note=note,
        residual_cv=float(resid.std() / beta[0]),
        lag1=lag1_autocorrelation(resid),
        fitted=fitted,
    )
