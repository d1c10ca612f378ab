"""Fit every series of a metrics export: :func:`fit_files` (read, prepare, fit, check).

The pure estimators live in ``traffic_fit``, ``errors_fit``, ``latency_fit`` and
``gauge_fit``; this module picks the usable intervals of each series, calls them, and
collects the goodness-of-fit checks and the findings into one :class:`MetricsFit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from canary_mc.errors import FitInputError
from canary_mc.fit.errors_fit import ErrorFit, fit_errors, fit_errors_moments
from canary_mc.fit.gauge_fit import GaugeFit, fit_gauge
from canary_mc.fit.goodness import (
    Check,
    bucket_checks,
    error_checks,
    gauge_checks,
    quantile_checks,
    traffic_checks,
)
from canary_mc.fit.latency_fit import LatencyFit, fit_latency_buckets, fit_latency_quantiles
from canary_mc.fit.prepare import MIN_INTERVALS, Finding, FitData, prepare
from canary_mc.fit.readers import parse_duration, parse_series_options, read_series
from canary_mc.fit.traffic_fit import TrafficFit, fit_traffic

DAY_S = 86_400.0


@dataclass(frozen=True)
class MetricsFit:
    """Everything ``canary-mc fit`` reports.

    Attributes
    ----------
    data : FitData
        The aligned per-interval series the fits used.
    traffic : TrafficFit
    errors : ErrorFit
    latency : LatencyFit or None
        ``None`` when no latency series was given.
    gauges : dict of str to GaugeFit
    checks : list of Check
        Goodness of fit of every series.
    latency_comparison : list of (x, observed, fitted)
        Quantile levels (quantile data) or bucket edges in ms (bucket data) with the
        observed and fitted values: the quantile comparison.
    latency_source : str
        ``"buckets"``, ``"quantiles"`` or ``""``.
    notes : list of str
        Choices made, e.g. buckets preferred over quantiles.
    """

    data: FitData
    traffic: TrafficFit
    errors: ErrorFit
    latency: LatencyFit | None
    gauges: dict[str, GaugeFit]
    checks: list[Check]
    latency_comparison: list[tuple[float, float, float]] = field(default_factory=list)
    latency_source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return self.data.findings


def _need(label: str, source: str, usable: int, interval_s: float) -> None:
    if usable < MIN_INTERVALS:
        raise FitInputError(
            f"{source}: {label} has {usable} usable interval(s); the fit needs at least "
            f"{MIN_INTERVALS} ({MIN_INTERVALS * interval_s / 3600:g} h at this interval)"
        )


ERROR_METHODS = {"ml": fit_errors, "moments": fit_errors_moments}
"""How the error rate and dispersion are fitted (``--method``)."""


def fit_data(data: FitData, *, period_s: float = DAY_S, method: str = "ml") -> MetricsFit:
    """Fit the counts model, latency and gauges to prepared data.

    Parameters
    ----------
    data : FitData
    period_s : float
        Length of the traffic cycle in seconds (a day).
    method : {"ml", "moments"}
        Error model fit: maximum likelihood (exact model, efficient) or the method of
        moments (matches the per-interval variance whatever the jitter's law).

    Returns
    -------
    MetricsFit
    """
    interval = data.interval_s
    period_steps = max(round(period_s / interval), 2)
    notes = []
    has_requests = np.isfinite(data.requests)
    _need("requests", data.sources["requests"], int(has_requests.sum()), interval)
    traffic = fit_traffic(
        data.steps[has_requests], data.requests[has_requests], period_steps=period_steps
    )
    usable = has_requests & np.isfinite(data.errors) & (data.requests > 0)
    _need("errors", data.sources["errors"], int(usable.sum()), interval)
    errors = ERROR_METHODS[method](data.errors[usable], data.requests[usable])
    checks = traffic_checks(data.requests[has_requests], traffic)
    checks += error_checks(data.errors[usable], data.requests[usable], errors)

    latency, comparison, source = None, [], ""
    if data.bucket_counts is not None:
        rows = np.all(np.isfinite(data.bucket_counts), axis=1) & (
            data.bucket_counts.sum(axis=1) > 0
        )
        _need("latency_buckets", data.sources["latency_buckets"], int(rows.sum()), interval)
        counts = data.bucket_counts[rows]
        latency = fit_latency_buckets(data.bucket_edges_ms, counts)
        more, comparison = bucket_checks(data.bucket_edges_ms, counts, latency)
        checks += more
        source = "buckets"
        if data.quantiles:
            notes.append(
                "latency fitted to the histogram buckets (exact likelihood); the quantile "
                "series were not used"
            )
    elif data.quantiles:
        levels = sorted(data.quantiles)
        if len(levels) < 2:
            only = f"latency_p{levels[0] * 100:g}"
            raise FitInputError(
                f"{data.sources[only]}: one latency quantile ({only}) cannot give both the "
                "median and the log-sd; give two or more quantile levels (e.g. p50 and p99) "
                "or the histogram buckets"
            )
        rows = np.all([np.isfinite(data.quantiles[q]) for q in levels], axis=0)
        with_counts = rows & np.isfinite(data.requests) & (data.requests > 0)
        use_counts = bool(with_counts.sum() >= MIN_INTERVALS)
        rows = with_counts if use_counts else rows
        label = f"latency_p{levels[0] * 100:g}"
        _need("latency quantiles", data.sources[label], int(rows.sum()), interval)
        quantiles = {q: data.quantiles[q][rows] for q in levels}
        requests = data.requests[rows].astype(np.int64) if use_counts else None
        latency = fit_latency_quantiles(quantiles, requests)
        more, comparison = quantile_checks(quantiles, requests, latency)
        checks += more
        source = "quantiles"
    gauges = {}
    for name, values in data.gauges.items():
        finite = values[np.isfinite(values)]
        _need(f"gauge {name}", data.sources[name], finite.shape[0], interval)
        gauges[name] = fit_gauge(finite)
        checks += gauge_checks(name, finite, gauges[name])
    return MetricsFit(
        data=data,
        traffic=traffic,
        errors=errors,
        latency=latency,
        gauges=gauges,
        checks=checks,
        latency_comparison=comparison,
        latency_source=source,
        notes=notes,
    )


def fit_files(
    paths: Sequence[Path],
    *,
    series: Sequence[str] = (),
    interval: str | None = None,
    period: str = "1d",
    method: str = "ml",
) -> MetricsFit:
    """Read metrics exports and fit them: the core of ``canary-mc fit``.

    Parameters
    ----------
    paths : sequence of Path
        Prometheus ``query_range`` JSON files, CSV or Parquet tables.
    series : sequence of str
        ``NAME=ROLE`` assignments (``--series``).
    interval : str, optional
        Evaluation interval (``1m``, ``5m``); default the data's step.
    period : str
        Traffic cycle length (``1d``).
    method : {"ml", "moments"}
        See :func:`fit_data`.

    Returns
    -------
    MetricsFit
    """
    if method not in ERROR_METHODS:
        raise FitInputError(f"--method must be one of {', '.join(ERROR_METHODS)}, got {method!r}")
    roles = parse_series_options(series)
    read = [s for path in paths for s in read_series(Path(path), roles)]
    names = {s.name for s in read}
    unknown = sorted(set(roles) - names)
    if unknown:
        raise FitInputError(
            f"--series {unknown[0]}: no series of that name; the inputs have: "
            f"{', '.join(sorted(names))}"
        )
    interval_s = None if interval is None else parse_duration(interval, option="--interval")
    data = prepare(read, interval_s=interval_s)
    return fit_data(data, period_s=parse_duration(period, option="--period"), method=method)
