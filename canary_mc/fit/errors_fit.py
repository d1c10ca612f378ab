"""Error counts: the counts model's binomial errors with a mean-one lognormal rate multiplier.

The simulator (``engine/noise/counts.py``) draws, at each step and independently,

    rate_t = min(p * exp(s * Z_t - s**2 / 2), 1),   Z_t ~ N(0, 1),
    errors_t ~ Binomial(requests_t, rate_t),

with ``p = service.error_rate`` and ``s = noise.error_dispersion``. :func:`fit_errors`
fits exactly this model by maximum likelihood. Each step's likelihood is the integral
over ``Z_t``, computed by adaptive Gauss-Hermite quadrature centred on the integrand's
mode (the integrand is log-concave in ``Z_t``, so Newton's method finds it). Standard
errors come from the observed information; when ``s`` sits on its boundary at 0 its
interval is the profile-likelihood one.

One service's errors cannot tell ``error_dispersion_mode`` apart: every mode gives each
side the same marginal spread, which is what is fitted here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from canary_mc.fit.estimates import Z95, Estimate

NODES, WEIGHTS = np.polynomial.hermite.hermgauss(24)
"""Gauss-Hermite rule (24 nodes) for the integral over the jitter ``Z_t``."""

MAX_DISPERSION = 5.0
"""Upper bound of the dispersion search (log-sd)."""

_LOG_ONE_MINUS_CAP = np.log1p(-1e-12)  # the rate cap at 1, kept inside the log's domain


@dataclass(frozen=True)
class ErrorFit:
    """Fitted error model.

    Attributes
    ----------
    error_rate : Estimate
        ``p``, the mean error rate (fraction).
    error_dispersion : Estimate
        ``s``, log-sd of the rate multiplier.
    log_likelihood : float
        Maximised log-likelihood (with the binomial coefficients).
    n_intervals : int
    """

    error_rate: Estimate
    error_dispersion: Estimate
    log_likelihood: float
    n_intervals: int


def _log_integrand(z: np.ndarray, c: np.ndarray, s: float, x, n) -> np.ndarray:
    """``x log r + (n - x) log(1 - r) - z^2/2`` with ``log r = c + s z`` (rate capped below 1)."""
    log_rate = np.minimum(c + s * z, _LOG_ONE_MINUS_CAP)
    return x * log_rate + (n - x) * np.log1p(-np.exp(log_rate)) - 0.5 * z * z


def step_log_likelihood(
    errors: np.ndarray, requests: np.ndarray, error_rate: float, dispersion: float
) -> np.ndarray:
    """Log-likelihood of each step's error count under the counts model.

    Parameters
    ----------
    errors, requests : ndarray, shape (n_intervals,)
        Errors and requests per interval (counts, ``0 <= errors <= requests``).
    error_rate : float
        ``p`` in (0, 1).
    dispersion : float
        ``s >= 0``.

    Returns
    -------
    ndarray of float64, shape (n_intervals,)
    """
    x = np.asarray(errors, dtype=np.float64)
    n = np.asarray(requests, dtype=np.float64)
    log_choose = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    s = float(dispersion)
    c = np.log(error_rate) - 0.5 * s * s
    if s == 0.0:
        log_rate = min(c, _LOG_ONE_MINUS_CAP)
        return log_choose + x * log_rate + (n - x) * np.log1p(-np.exp(log_rate))
    # Mode of the integrand in z (log-concave): Newton from the moment guess.
    with np.errstate(divide="ignore"):
        guess = (np.log(np.maximum(x, 0.5) / n) - c) / s
    # Above the kink the rate is capped at 1 and the integrand is -z^2/2 alone.
    kink = (_LOG_ONE_MINUS_CAP - c) / s
    z = np.minimum(np.clip(guess, -8.0, 8.0), kink)
    for _ in range(60):
        rate = np.exp(np.minimum(c + s * z, _LOG_ONE_MINUS_CAP))
        odds = rate / (1.0 - rate)
        grad = s * x - (n - x) * s * odds - z
        curv = -(n - x) * s * s * odds / (1.0 - rate) - 1.0
        step = np.clip(-grad / curv, -2.0, 2.0)
        step = np.minimum(z + step, kink) - z
        z = z + step
        if np.max(np.abs(step)) < 1e-10:
            break
    rate = np.exp(np.minimum(c + s * z, _LOG_ONE_MINUS_CAP))
    curv = -(n - x) * s * s * rate / (1.0 - rate) ** 2 - 1.0
    scale = np.sqrt(2.0 / -curv)
    points = z[:, None] + scale[:, None] * NODES[None, :]
    logs = _log_integrand(points, c, s, x[:, None], n[:, None]) + NODES[None, :] ** 2
    integral = special.logsumexp(logs, b=WEIGHTS[None, :], axis=1) + np.log(scale)
    return log_choose + integral - 0.5 * np.log(2.0 * np.pi)


def _total(errors, requests, log_rate: float, dispersion: float) -> float:
    return float(np.sum(step_log_likelihood(errors, requests, np.exp(log_rate), dispersion)))


def moment_start(errors: np.ndarray, requests: np.ndarray) -> tuple[float, float]:
    """Method-of-moments start ``(p, s)``: pooled rate, and ``exp(s^2) - 1`` from the excess
    of each step's squared deviation over its binomial variance."""
    x = np.asarray(errors, dtype=np.float64)
    n = np.asarray(requests, dtype=np.float64)
    p = max(x.sum() / n.sum(), 0.5 / n.sum())
    excess = np.sum((x - n * p) ** 2 - n * p * (1 - p))
    v = max(excess / np.sum(n * n * p * p), 0.0)
    return p, float(np.sqrt(np.log1p(v)))


def fit_errors(errors: np.ndarray, requests: np.ndarray) -> ErrorFit:
    """Maximum-likelihood fit of ``(error_rate, error_dispersion)``.

    Parameters
    ----------
    errors, requests : ndarray, shape (n_intervals,)
        Per-interval counts; intervals with no requests are ignored.

    Returns
    -------
    ErrorFit
        Wald intervals from the observed information (the rate's on the log scale),
        a profile-likelihood interval for a dispersion fitted at 0.
    """
    x = np.asarray(errors, dtype=np.float64)
    n = np.asarray(requests, dtype=np.float64)
    keep = n > 0
    x, n = x[keep], n[keep]
    p0, s0 = moment_start(x, n)

    def negative(theta: np.ndarray) -> float:
        return -_total(x, n, theta[0], theta[1])

    best = optimize.minimize(
        negative,
        x0=np.array([np.log(p0), max(s0, 0.05)]),
        method="L-BFGS-B",
        bounds=[(np.log(0.5 / n.sum()), 0.0), (0.0, MAX_DISPERSION)],
    )
    log_p, s = float(best.x[0]), float(best.x[1])
    log_lik = -float(best.fun)
    on_boundary = s < 1e-3
    if on_boundary:
        s = 0.0
        log_p = float(
            optimize.minimize_scalar(
                lambda lp: -_total(x, n, lp, 0.0),
                bounds=(log_p - 1.0, min(log_p + 1.0, 0.0)),
                method="bounded",
            ).x
        )
        log_lik = _total(x, n, log_p, 0.0)
    cov = _inverse_information(lambda t: _total(x, n, t[0], t[1]), (log_p, s), fixed=on_boundary)
    se_log_p = float(np.sqrt(cov[0, 0]))
    p = float(np.exp(log_p))
    rate = Estimate(
        value=p,
        se=p * se_log_p,
        low=float(np.exp(log_p - Z95 * se_log_p)),
        high=float(np.exp(log_p + Z95 * se_log_p)),
        method="maximum likelihood",
        unit="fraction",
    )
    if on_boundary:
        upper = _profile_upper(x, n, log_lik, log_p)
        dispersion = Estimate(
            value=0.0, se=None, low=0.0, high=upper, method="maximum likelihood", unit="log-sd"
        )
    else:
        dispersion = Estimate.wald(
            s,
            float(np.sqrt(cov[1, 1])),
            method="maximum likelihood",
            unit="log-sd",
            floor=0.0,
        )
    return ErrorFit(rate, dispersion, log_lik, int(x.shape[0]))


def _inverse_information(log_lik, theta: tuple[float, float], *, fixed: bool) -> np.ndarray:
    """Inverse of the observed information by central differences; with ``fixed`` only
    the first parameter's (the second sits on its boundary)."""
    point = np.array(theta, dtype=np.float64)
    steps = np.array([1e-4, 1e-4 * max(1.0, point[1])])
    dims = 1 if fixed else 2
    hessian = np.empty((dims, dims))
    for i in range(dims):
        for j in range(i, dims):
            total = 0.0
            for si, sj, sign in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                moved = point.copy()
                moved[i] += si * steps[i]
                moved[j] += sj * steps[j]
                total += sign * log_lik(moved)
            hessian[i, j] = hessian[j, i] = total / (4 * steps[i] * steps[j])
    cov = np.linalg.inv(-hessian)
    return cov if dims == 2 else np.array([[cov[0, 0], 0.0], [0.0, 0.0]])


def _profile_upper(x, n, log_lik: float, log_p: float) -> float:
    """Upper end of the 95% profile-likelihood interval of ``s`` when ``s_hat = 0``."""
    drop = 0.5 * Z95 * Z95

    def deficit(s: float) -> float:
        inner = optimize.minimize_scalar(
            lambda lp: -_total(x, n, lp, s),
            bounds=(log_p - 1.0, min(log_p + 1.0, 0.0)),
            method="bounded",
        )
        return log_lik + float(inner.fun) - drop

    high = 0.05
    while deficit(high) < 0 and high < MAX_DISPERSION:
        high *= 2
    return float(optimize.brentq(deficit, 0.0, min(high, MAX_DISPERSION), xtol=1e-4))


def draw_error_rates(
    rng: np.random.Generator, error_rate: float, dispersion: float, shape: tuple[int, ...]
) -> np.ndarray:
    """Per-interval error rates of the fitted model, ``min(p exp(s Z - s^2/2), 1)``, the
    simulator's jitter (for the goodness-of-fit bootstrap and the plots)."""
    s = dispersion
    return np.minimum(error_rate * np.exp(s * rng.standard_normal(shape) - s * s / 2), 1.0)


def model_variance(requests: np.ndarray, error_rate: float, dispersion: float) -> np.ndarray:
    """Variance of each step's error count under the model (rate cap ignored).

    ``Var X = n p - n p^2 e^{s^2} + n^2 p^2 (e^{s^2} - 1)``: binomial given the rate, plus
    the rate's own variance.

    Returns
    -------
    ndarray of float64, shape (n_intervals,)
    """
    n = np.asarray(requests, dtype=np.float64)
    inflation = np.exp(dispersion * dispersion)
    p = error_rate
    return n * p - n * p * p * inflation + n * n * p * p * (inflation - 1.0)


def fit_errors_moments(errors: np.ndarray, requests: np.ndarray) -> ErrorFit:
    """Method-of-moments fit of ``(error_rate, error_dispersion)``: the first two moments
    of each interval's error count, whatever the law of the rate jitter.

    With ``v = exp(s^2) - 1`` the model gives ``E x_t = n_t p`` and
    ``E (x_t - n_t p)^2 = n_t p (1 - p) + p^2 v n_t (n_t - 1)`` (rate cap ignored), so
    ``p = sum x / sum n`` and ``v`` solves the second equation summed over intervals.
    Standard errors are the M-estimation sandwich with a Newey-West middle
    (autocorrelation-consistent); the interval of ``v`` is Wald, mapped through
    ``s = sqrt(log(1 + v))`` (clipped at 0), so it behaves at the boundary.

    Parameters
    ----------
    errors, requests : ndarray, shape (n_intervals,)
        Per-interval counts in time order; intervals with no requests are ignored.

    Returns
    -------
    ErrorFit
        ``log_likelihood`` is that of the model at the moment estimates.
    """
    from canary_mc.fit.hac import long_run_covariance

    x = np.asarray(errors, dtype=np.float64)
    n = np.asarray(requests, dtype=np.float64)
    keep = n > 0
    x, n = x[keep], n[keep]
    count = x.shape[0]
    p = x.sum() / n.sum()
    pairs = n * (n - 1)
    squares = (x - n * p) ** 2 * count / (count - 1)  # p is estimated: one degree lost
    v = float(np.sum(squares - n * p * (1 - p)) / np.sum(p * p * pairs))
    # Estimating functions g_t(p, v) and their Jacobian, summed over intervals.
    g = np.column_stack([x - n * p, (x - n * p) ** 2 - n * p * (1 - p) - p * p * v * pairs])
    jac = np.array(
        [
            [-n.sum(), 0.0],
            [
                np.sum(-2 * n * (x - n * p) - n * (1 - 2 * p) - 2 * p * v * pairs),
                -np.sum(p * p * pairs),
            ],
        ]
    )
    inverse = np.linalg.inv(jac)
    cov = inverse @ long_run_covariance(g) @ inverse.T
    se_p, se_v = float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1]))
    method = "method of moments, Newey-West SE"
    rate = Estimate.wald(float(p), se_p, method=method, unit="fraction", floor=0.0)

    def to_s(value: float) -> float:
        return float(np.sqrt(np.log1p(max(value, 0.0))))

    s = to_s(v)
    se_s = se_v / (2 * s * (1 + v)) if s > 0 else None
    dispersion = Estimate(
        value=s,
        se=se_s,
        low=to_s(v - Z95 * se_v),
        high=to_s(v + Z95 * se_v),
        method=method,
        unit="log-sd",
    )
    log_lik = float(np.sum(step_log_likelihood(x, n, max(p, 1e-300), s)))
    return ErrorFit(rate, dispersion, log_lik, count)
