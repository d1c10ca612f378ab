"""A gauge (CPU %, memory, saturation): independent normal per step, mean and sigma."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from canary_mc.fit.estimates import Estimate
from canary_mc.fit.hac import lag1_autocorrelation, long_run_covariance


@dataclass(frozen=True)
class GaugeFit:
    """Fitted gauge.

    Attributes
    ----------
    mean : Estimate
        Mean per-step value, in the gauge's unit.
    sigma : Estimate
        Standard deviation of one step's value.
    lag1 : float
        Lag-1 autocorrelation (the model draws steps independently: 0).
    """

    mean: Estimate
    sigma: Estimate
    lag1: float


def fit_gauge(values: np.ndarray) -> GaugeFit:
    """Mean and standard deviation of a gauge, with Newey-West standard errors.

    Parameters
    ----------
    values : ndarray, shape (n_intervals,)
        Time-ordered per-interval values.

    Returns
    -------
    GaugeFit
        The sigma's SE is the delta method on the long-run variance of the squared
        deviations, so autocorrelation widens both intervals honestly.
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.shape[0]
    mean = float(x.mean())
    dev = x - mean
    variance = float(dev @ dev) / (n - 1)
    moments = np.column_stack([dev, dev * dev - variance])
    cov = long_run_covariance(moments) / (n * n)
    sigma = float(np.sqrt(variance))
    method = "moments, Newey-West SE"
    return GaugeFit(
        mean=Estimate.wald(mean, float(np.sqrt(cov[0, 0])), method=method),
        sigma=Estimate.wald(
            sigma, float(np.sqrt(cov[1, 1])) / (2 * sigma), method=method, floor=0.0
        ),
        lag1=lag1_autocorrelation(x),
    )
