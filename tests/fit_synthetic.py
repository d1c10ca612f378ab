"""Synthetic metrics from known parameters, written as a Prometheus export and as CSV.

Independent of ``canary_mc.fit``: plain numpy draws of the simulator's model (a daily
request cycle with Poisson traffic around it, binomial errors with a mean-one lognormal
rate multiplier, lognormal per-request latencies), summarised as Prometheus does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

EDGES_S = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, float("inf"))
"""Histogram bucket upper edges in seconds (Prometheus ``le``)."""


@dataclass(frozen=True)
class Truth:
    requests: float = 400.0
    amplitude: float = 0.4
    period_steps: int = 96
    phase: float = 0.7
    error_rate: float = 0.02
    dispersion: float = 0.35
    latency_ms: float = 80.0
    log_sigma: float = 0.5
    gauge_mean: float = 55.0
    gauge_sigma: float = 4.0
    levels: tuple[float, ...] = (0.5, 0.9, 0.99)


@dataclass
class Synthetic:
    timestamps: np.ndarray
    requests: np.ndarray
    errors: np.ndarray
    quantiles_ms: dict[float, np.ndarray]
    buckets: np.ndarray  # cumulative counts, (n, n_edges)
    gauge: np.ndarray
    extra: dict = field(default_factory=dict)


def draw(
    seed: int,
    n_intervals: int,
    truth: Truth = Truth(),
    *,
    interval_s: int = 900,
    start: int = 1_767_225_600,
    latency: bool = True,
) -> Synthetic:
    rng = np.random.default_rng(seed)
    t = np.arange(n_intervals)
    mean = truth.requests * (
        1 + truth.amplitude * np.sin(2 * np.pi * t / truth.period_steps + truth.phase)
    )
    requests = rng.poisson(mean)
    s = truth.dispersion
    rate = np.minimum(
        truth.error_rate * np.exp(s * rng.standard_normal(n_intervals) - s * s / 2), 1
    )
    errors = rng.binomial(requests, rate)
    quantiles = {q: np.empty(n_intervals) for q in truth.levels}
    buckets = np.zeros((n_intervals, len(EDGES_S)))
    if latency:
        edges_ms = np.array(EDGES_S) * 1000
        for i, n in enumerate(requests):
            lat = truth.latency_ms * np.exp(truth.log_sigma * rng.standard_normal(n))
            for q in truth.levels:
                quantiles[q][i] = np.quantile(lat, q, method="inverted_cdf")
            buckets[i] = np.searchsorted(np.sort(lat), edges_ms, side="right")
    gauge = truth.gauge_mean + truth.gauge_sigma * rng.standard_normal(n_intervals)
    return Synthetic(
        start + interval_s * t.astype(np.float64),
        requests.astype(float),
        errors.astype(float),
        quantiles,
        buckets,
        gauge,
    )


def prometheus_response(timestamps, columns: list[tuple[dict, np.ndarray]]) -> dict:
    result = []
    for labels, values in columns:
        result.append(
            {
                "metric": labels,
                "values": [[float(ts), _fmt(v)] for ts, v in zip(timestamps, values, strict=True)],
            }
        )
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _fmt(v: float) -> str:
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def write_prometheus(directory: Path, data: Synthetic) -> list[Path]:
    """requests.json, errors.json (``sum(increase(...))``: no ``__name__``) and
    latency_bucket.json (``sum by (le) (increase(..._bucket))``)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for name, values in (("requests", data.requests), ("errors", data.errors)):
        path = directory / f"{name}.json"
        path.write_text(json.dumps(prometheus_response(data.timestamps, [({}, values)])))
        files.append(path)
    columns = [
        ({"le": "+Inf" if np.isinf(e) else f"{e:g}"}, data.buckets[:, b])
        for b, e in enumerate(EDGES_S)
    ]
    path = directory / "latency_bucket.json"
    path.write_text(json.dumps(prometheus_response(data.timestamps, columns)))
    files.append(path)
    return files


def write_csv(path: Path, data: Synthetic, *, gauge: bool = True) -> Path:
    frame = pd.DataFrame(
        {"timestamp": data.timestamps, "requests": data.requests, "errors": data.errors}
    )
    for q, values in data.quantiles_ms.items():
        frame[f"latency_p{q * 100:g}"] = values
    if gauge:
        frame["cpu_pct"] = data.gauge
    frame.to_csv(path, index=False)
    return path
