"""Write the sample metrics export in ``examples/fit/`` (see ``docs/fit.md``).

Three days of a made-up service ``checkout`` at a 5-minute step, saved exactly as the
Prometheus HTTP API returns ``/api/v1/query_range`` (one file per query), plus the same
counts as a CSV table. Run from the repository root::

    .venv/bin/python scripts/make_fit_example.py

The data are realistic rather than ideal, so that ``canary-mc fit`` has something to say:

- traffic: about 12 requests/s with a daily cycle (amplitude 0.45) and 8% extra noise;
- errors: 0.4% with a lognormal jitter (log-sd 0.3) that is *autocorrelated* from one
  interval to the next (AR(1), 0.5), and one 20-minute incident at 2% errors;
- latency: lognormal per request, median 85 ms and log-sd 0.45, whose median rises 10%
  with the daily peak (so buckets vary more between intervals than independent requests
  allow), summarised into Prometheus histogram buckets (seconds);
- a gauge: CPU % following load, with noise;
- a 30-minute scrape gap in every series, and ``increase()``'s non-integer counts.

Fixed seed: rerunning gives the same files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path("examples/fit")
SEED = 20260101
STEP_S = 300
DAYS = 3
START = 1_767_225_600  # 2026-01-01 00:00 UTC
LE_S = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)


def main() -> None:
    rng = np.random.default_rng(SEED)
    n = DAYS * 86_400 // STEP_S
    t = np.arange(n)
    cycle = np.sin(2 * np.pi * t / (86_400 / STEP_S) - 2.0)
    mean_requests = 12 * STEP_S * (1 + 0.45 * cycle)
    requests = rng.poisson(mean_requests * np.exp(0.08 * rng.standard_normal(n) - 0.0032))
    z = np.zeros(n)
    for i in range(1, n):
        z[i] = 0.5 * z[i - 1] + np.sqrt(1 - 0.25) * rng.standard_normal()
    rate = 0.004 * np.exp(0.3 * z - 0.045)
    rate[500:504] = 0.02  # an incident
    errors = rng.binomial(requests, rate)
    median_s = 0.085 * (1 + 0.10 * cycle)
    buckets = np.empty((n, len(LE_S) + 1))
    edges = np.array(LE_S)
    for i in range(n):
        latency = np.sort(median_s[i] * np.exp(0.45 * rng.standard_normal(requests[i])))
        buckets[i, :-1] = np.searchsorted(latency, edges, side="right")
        buckets[i, -1] = requests[i]
    cpu = 20 + 25 * (1 + 0.45 * cycle) + 3 * rng.standard_normal(n)

    # increase() extrapolates to the window's edges: counts come out slightly non-integer,
    # by the same factor for every bucket of a histogram (same samples, same window).
    def increase(values: np.ndarray) -> np.ndarray:
        factor = 1 + 0.002 * rng.standard_normal(values.shape[0])
        return values * (factor if values.ndim == 1 else factor[:, None])

    stamps = START + STEP_S * t
    keep = np.ones(n, dtype=bool)
    keep[700:706] = False  # Prometheus was down for 30 minutes

    def matrix(series: list[tuple[dict, np.ndarray]]) -> dict:
        result = []
        for labels, values in series:
            pairs = [[int(s), _text(v)] for s, v, k in zip(stamps, values, keep, strict=True) if k]
            result.append({"metric": labels, "values": pairs})
        return {"status": "success", "data": {"resultType": "matrix", "result": result}}

    OUT.mkdir(parents=True, exist_ok=True)
    files = {
        "requests.json": [({}, increase(requests.astype(float)))],
        "errors.json": [({}, increase(errors.astype(float)))],
        "latency_bucket.json": [
            ({"le": _le(le)}, column)
            for le, column in zip((*LE_S, float("inf")), increase(buckets).T, strict=True)
        ],
        "cpu.json": [({}, cpu)],
    }
    for name, series in files.items():
        (OUT / name).write_text(json.dumps(matrix(series), separators=(",", ":")) + "\n")
    table = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(stamps[keep], unit="s", utc=True).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "requests": requests[keep],
            "errors": errors[keep],
            "cpu_pct": np.round(cpu[keep], 2),
        }
    )
    table.to_csv(OUT / "checkout.csv", index=False)
    print(f"wrote {', '.join(files)} and checkout.csv in {OUT}")


def _le(value: float) -> str:
    return "+Inf" if np.isinf(value) else f"{value:g}"


def _text(value: float) -> str:
    return f"{value:.6g}"


if __name__ == "__main__":
    main()
