"""Goodness of fit: does the fitted model reproduce each series' per-interval spread?

Each check returns a :class:`Check` with its statistic, a p-value where one is defined,
and a plain verdict that says what a misfit means for the simulated rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from canary_mc.engine.core.streams import content_key
from canary_mc.fit.errors_fit import ErrorFit, draw_error_rates, model_variance
from canary_mc.fit.gauge_fit import GaugeFit
from canary_mc.fit.hac import lag1_autocorrelation
from canary_mc.fit.latency_fit import LatencyFit, bucket_probabilities, order_statistic_moments
from canary_mc.fit.traffic_fit import TrafficFit

GOODNESS_STREAM = content_key("canary-mc", "fit-goodness", "v1")
"""Stream of the parametric bootstrap: the same data give the same p-values."""

BOOTSTRAP_REPLICATES = 499
"""Parametric-bootstrap samples of the error model's dispersion statistic."""

ALPHA = 0.01
"""Level at which a check is reported as a misfit."""


@dataclass(frozen=True)
class Check:
    """One goodness-of-fit comparison.

    Attributes
    ----------
    series : str
        ``requests``, ``errors``, ``latency``, or a gauge's name.
    name : str
        What is compared, e.g. ``variance ratio (data / model)``.
    value : float
        The statistic.
    p_value : float or None
        Under the fitted model; ``None`` for a descriptive figure.
    verdict : str
        ``ok``, or what the misfit means.
    of_fit : bool
        True when the p-value tests the fitted model (a small one is a misfit); False for
        a description of the data (e.g. overdispersion against plain binomial).
    """

    series: str
    name: str
    value: float
    p_value: float | None
    verdict: str
    of_fit: bool = True

    @property
    def fits(self) -> bool:
        return not self.of_fit or self.p_value is None or self.p_value >= ALPHA


def _autocorrelation_check(series: str, residuals: np.ndarray, consequence: str) -> Check:
    """Lag-1 autocorrelation, tested against 0 with its large-sample SE ``1/sqrt(n)``."""
    r1 = lag1_autocorrelation(residuals)
    p = float(2 * stats.norm.sf(abs(r1) * np.sqrt(residuals.shape[0])))
    verdict = "ok" if p >= ALPHA else f"autocorrelated: {consequence}"
    return Check(series, "lag-1 autocorrelation", r1, p, verdict)


def _trend_check(series: str, residuals: np.ndarray) -> Check:
    """Slope of standardised residuals over time (Spearman's rank correlation)."""
    if np.ptp(residuals) == 0:
        return Check(series, "trend (Spearman rho with time)", 0.0, 1.0, "ok")
    rho, p = stats.spearmanr(np.arange(residuals.shape[0]), residuals)
    verdict = (
        "ok"
        if p >= ALPHA
        else "drifts over the window: the fitted value is an average over the export; a "
        "simulated rollout sees none of the drift"
    )
    return Check(series, "trend (Spearman rho with time)", float(rho), float(p), verdict)


def error_checks(errors: np.ndarray, requests: np.ndarray, fit: ErrorFit) -> list[Check]:
    """Variance ratios, the binomial dispersion test, a parametric-bootstrap test of the
    fitted model's spread, autocorrelation and trend of the Pearson residuals.

    Parameters
    ----------
    errors, requests : ndarray, shape (n_intervals,)
        Usable intervals only, in time order.
    """
    x = np.asarray(errors, dtype=np.float64)
    n = np.asarray(requests, dtype=np.float64)
    p = fit.error_rate.value
    s = fit.error_dispersion.value
    deviation = (x - n * p) ** 2
    binomial = n * p * (1 - p)
    model = model_variance(n, p, s)
    checks = []
    pearson_binomial = float(np.sum(deviation / binomial))
    dof = x.shape[0] - 1
    p_binomial = float(stats.chi2.sf(pearson_binomial, dof))
    checks.append(
        Check(
            "errors",
            "dispersion test vs plain binomial (X^2/df)",
            pearson_binomial / dof,
            p_binomial,
            "ok: no overdispersion"
            if p_binomial >= ALPHA
            else "overdispersed beyond binomial, as error_dispersion > 0 models",
            of_fit=False,
        )
    )
    ratio = float(deviation.sum() / model.sum())
    statistic = float(np.sum(deviation / model))
    # Parametric bootstrap of the same statistic under the fitted model.
    rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=GOODNESS_STREAM))
    shape = (BOOTSTRAP_REPLICATES, x.shape[0])
    rates = draw_error_rates(rng, p, s, shape)
    simulated = rng.binomial(n.astype(np.int64), rates)
    replicate = np.sum((simulated - n * p) ** 2 / model, axis=1)
    # Two-sided: too little spread misleads the simulation as much as too much.
    above = (1 + np.sum(replicate >= statistic)) / (1 + BOOTSTRAP_REPLICATES)
    below = (1 + np.sum(replicate <= statistic)) / (1 + BOOTSTRAP_REPLICATES)
    p_model = float(min(1.0, 2 * min(above, below)))
    if p_model >= ALPHA:
        verdict = "ok"
    elif ratio > 1:
        verdict = (
            f"the data vary {ratio:.2f}x more than the fitted model: simulated false-alarm "
            "rates are too low (--method moments matches the variance)"
        )
    else:
        verdict = (
            f"the data vary {ratio:.2f}x as much as the fitted model: simulated false-alarm "
            "rates are too high (--method moments matches the variance)"
        )
    checks.append(
        Check(
            "errors", "variance ratio, data / fitted model (bootstrap p)", ratio, p_model, verdict
        )
    )
    residuals = (x - n * p) / np.sqrt(model)
    # Bursts: the largest standardised interval against its law under the model.
    simulated_largest = np.max((simulated - n * p) / np.sqrt(model), axis=1)
    largest = float(residuals.max())
    worst = int(np.argmax(residuals))
    p_burst = float((1 + np.sum(simulated_largest >= largest)) / (1 + BOOTSTRAP_REPLICATES))
    checks.append(
        Check(
            "errors",
            "largest interval, SDs above the model (bootstrap p)",
            largest,
            p_burst,
            "ok"
            if p_burst >= ALPHA
            else f"a burst: usable interval {worst} had {x[worst]:g} errors of {n[worst]:g} "
            "requests, more than the fitted model ever draws; bursts are averaged into the "
            "fitted rate and dispersion, not simulated as bursts",
        )
    )
    checks.append(
        _autocorrelation_check(
            "errors",
            residuals,
            "bad intervals come in runs, which the model (independent steps) never draws; "
            "simulated false-alarm rates of rules that need several failing steps are too low",
        )
    )
    checks.append(_trend_check("errors", residuals))
    return checks


def traffic_checks(requests: np.ndarray, fit: TrafficFit) -> list[Check]:
    """How far real traffic strays from the simulator's deterministic curve."""
    resid = np.asarray(requests, dtype=np.float64) - fit.fitted
    return [
        Check(
            "requests",
            "residual sd / mean (the model has none)",
            fit.residual_cv,
            None,
            "the simulator serves exactly the fitted curve; rates depend on traffic only "
            "through each step's request count",
        ),
        _autocorrelation_check(
            "requests",
            resid,
            "traffic stays high or low for a while beyond the daily cycle; the simulated "
            "counts follow the curve",
        ),
    ]


def quantile_checks(
    quantiles: dict[float, np.ndarray], requests: np.ndarray | None, fit: LatencyFit
) -> tuple[list[Check], list[tuple[float, float, float]]]:
    """Per quantile level: the variance ratio of ``log y`` between intervals (data over the
    model's order-statistic variance) and the observed against the fitted median.

    Returns
    -------
    checks : list of Check
    comparison : list of (level, observed median ms, fitted median ms)
        The quantile comparison (a QQ plot's points).
    """
    mu = np.log(fit.latency_ms.value)
    sigma = fit.latency_log_sigma.value
    checks, comparison = [], []
    for level in sorted(quantiles):
        log_y = np.log(quantiles[level])
        mean_z, var_z = order_statistic_moments(np.full(log_y.shape[0], level), requests)
        predicted = mu + sigma * mean_z
        observed_var = float(np.var(log_y - predicted, ddof=1))
        name = f"latency p{level * 100:g}"
        comparison.append(
            (level, float(np.exp(np.median(log_y))), float(np.exp(np.median(predicted))))
        )
        if requests is None or not np.any(var_z > 0):
            continue
        model_var = float(np.mean(sigma * sigma * var_z))
        ratio = observed_var / model_var
        dof = log_y.shape[0] - 1
        p = float(stats.chi2.sf(ratio * dof, dof))
        verdict = (
            "ok"
            if p >= ALPHA
            else f"varies {ratio:.1f}x more between intervals than independent requests from "
            "one lognormal allow: the simulated latency metric is steadier than production's, "
            "so simulated latency false alarms are too low"
        )
        checks.append(
            Check(name, "variance ratio of log quantile, data / model", ratio, p, verdict)
        )
    return checks, comparison


def bucket_checks(
    edges_ms: np.ndarray, counts: np.ndarray, fit: LatencyFit
) -> tuple[list[Check], list[tuple[float, float, float]]]:
    """Pearson dispersion of per-interval bucket counts around the fitted multinomial, and
    the pooled observed CDF against the fitted CDF at each finite edge.

    Returns
    -------
    checks : list of Check
    comparison : list of (edge ms, observed CDF, fitted CDF)
    """
    mu = np.log(fit.latency_ms.value)
    sigma = fit.latency_log_sigma.value
    probs = bucket_probabilities(edges_ms, mu, sigma)
    totals = counts.sum(axis=1, keepdims=True)
    # Pearson's statistic needs expected counts of about 5 or more: merge neighbouring
    # buckets until the mean expected count per interval reaches that.
    groups = merge_small_buckets(probs * float(totals.mean()), minimum=5.0)
    merged_counts = np.add.reduceat(counts, groups, axis=1)
    merged_probs = np.add.reduceat(probs, groups)
    expected = totals * merged_probs[None, :]
    statistic = float(np.sum((merged_counts - expected) ** 2 / expected))
    dof = counts.shape[0] * (len(groups) - 1) - 2
    ratio = statistic / dof
    p = float(stats.chi2.sf(statistic, dof))
    verdict = (
        "ok"
        if p >= ALPHA
        else f"bucket shares vary {ratio:.1f}x more between intervals than independent "
        "requests allow: the simulated latency metric is steadier than production's"
    )
    pooled = np.cumsum(counts.sum(axis=0)) / counts.sum()
    fitted = np.cumsum(probs)
    comparison = [
        (float(e), float(o), float(f))
        for e, o, f in zip(edges_ms, pooled, fitted, strict=True)
        if np.isfinite(e)
    ]
    worst = max(abs(o - f) for _, o, f in comparison) if comparison else 0.0
    shape = Check(
        "latency",
        "largest CDF gap at a bucket edge",
        worst,
        None,
        "ok"
        if worst < 0.02
        else "the pooled latency distribution is not lognormal in shape (see the QQ plot)",
    )
    return [
        Check("latency", "bucket dispersion, X^2/df", ratio, p, verdict),
        shape,
    ], comparison


def merge_small_buckets(expected: np.ndarray, *, minimum: float) -> np.ndarray:
    """Start indices of groups of neighbouring buckets, each with expected count at least
    ``minimum`` (the last group absorbs a short tail), for :func:`numpy.add.reduceat`."""
    starts, running = [0], 0.0
    for b, value in enumerate(expected):
        running += value
        if running >= minimum and b + 1 < expected.shape[0]:
            starts.append(b + 1)
            running = 0.0
    if len(starts) > 1 and expected[starts[-1] :].sum() < minimum:
        starts.pop()
    return np.array(starts)


def gauge_checks(name: str, values: np.ndarray, fit: GaugeFit) -> list[Check]:
    """Normality (D'Agostino-Pearson) and autocorrelation of a gauge."""
    x = np.asarray(values, dtype=np.float64)
    checks = []
    if x.shape[0] >= 20:
        statistic, p = stats.normaltest(x)
        checks.append(
            Check(
                name,
                "normality (D'Agostino-Pearson K^2)",
                float(statistic),
                float(p),
                "ok"
                if p >= ALPHA
                else "not normal: the simulated gauge's tails differ from production's",
            )
        )
    checks.append(
        _autocorrelation_check(
            name,
            x - fit.mean.value,
            "the model draws each step independently; a canary judged over several steps "
            "sees less gauge noise in simulation than in production",
        )
    )
    return checks
