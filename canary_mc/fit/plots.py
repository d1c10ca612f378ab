"""Goodness-of-fit plots of ``canary-mc fit --plot DIR``: data against the fitted model.

:func:`fit_frames` (pure) turns a :class:`~canary_mc.fit.service.MetricsFit` into one
DataFrame per plot; each panel function takes its DataFrame and an optional ``ax`` and
returns the Figure (Agg canvas, no pyplot); :func:`write_fit_plots` saves them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from canary_mc.engine.core.streams import content_key
from canary_mc.fit.errors_fit import draw_error_rates
from canary_mc.fit.service import MetricsFit
from canary_mc.report.plots import new_figure, save_png, styled

PLOT_STREAM = content_key("canary-mc", "fit-plot", "v1")
"""Stream of the model replicate drawn beside the data (same data, same picture)."""


def fit_frames(fit: MetricsFit) -> dict[str, pd.DataFrame]:
    """The data of every plot.

    Returns
    -------
    dict
        ``requests``: step, observed, fitted; ``errors``: step, observed and model (one
        replicate of the fitted model on the same request counts) error rates;
        ``latency``: x, observed, fitted, kind; ``gauge:<name>``: value.
    """
    data = fit.data
    frames = {}
    has = np.isfinite(data.requests)
    frames["requests"] = pd.DataFrame(
        {"step": data.steps[has], "observed": data.requests[has], "fitted": fit.traffic.fitted}
    )
    usable = has & np.isfinite(data.errors) & (data.requests > 0)
    n = data.requests[usable]
    p, s = fit.errors.error_rate.value, fit.errors.error_dispersion.value
    rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=PLOT_STREAM))
    rate = draw_error_rates(rng, p, s, n.shape)
    frames["errors"] = pd.DataFrame(
        {
            "step": data.steps[usable],
            "observed": data.errors[usable] / n,
            "model": rng.binomial(n.astype(np.int64), rate) / n,
        }
    )
    if fit.latency_comparison:
        x, observed, fitted = zip(*fit.latency_comparison, strict=True)
        frames["latency"] = pd.DataFrame(
            {"x": x, "observed": observed, "fitted": fitted, "kind": fit.latency_source}
        )
    for name, values in data.gauges.items():
        frames[f"gauge:{name}"] = pd.DataFrame({"value": values[np.isfinite(values)]})
    return frames


def _axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(root=True), ax
    figure = new_figure(6.0, 3.4)
    return figure, figure.add_subplot()


@styled
def traffic_panel(frame: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Requests per interval and the fitted daily cycle."""
    figure, ax = _axes(ax)
    ax.plot(frame["step"], frame["observed"], lw=0.6, color="0.5", label="data")
    ax.plot(frame["step"], frame["fitted"], lw=1.5, color="C0", label="fitted (simulated)")
    ax.set_xlabel("interval")
    ax.set_ylabel("requests per interval")
    ax.set_title("Traffic: data and the fitted cycle")
    ax.legend(loc="upper right")
    return figure


@styled
def error_rate_panel(frame: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Histogram of per-interval error rates: data against one replicate of the model."""
    figure, ax = _axes(ax)
    both = np.concatenate([frame["observed"], frame["model"]])
    bins = np.linspace(both.min(), both.max(), 40)
    ax.hist(frame["observed"], bins=bins, alpha=0.6, color="0.4", label="data")
    ax.hist(frame["model"], bins=bins, histtype="step", lw=1.5, color="C3", label="fitted model")
    ax.set_xlabel("error rate per interval (fraction)")
    ax.set_ylabel("intervals")
    ax.set_title("Errors: per-interval rate, data and model on the same traffic")
    ax.legend(loc="upper right")
    return figure


@styled
def latency_panel(frame: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Quantile comparison: observed against fitted (quantiles: medians of each level;
    buckets: CDF at each edge); the diagonal is a perfect fit."""
    figure, ax = _axes(ax)
    kind = frame["kind"].iloc[0]
    lo = float(min(frame["observed"].min(), frame["fitted"].min()))
    hi = float(max(frame["observed"].max(), frame["fitted"].max()))
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=1)
    ax.plot(frame["fitted"], frame["observed"], "o", color="C2")
    if kind == "buckets":
        ax.set_xlabel("fitted CDF at the bucket edge")
        ax.set_ylabel("observed CDF (pooled)")
        ax.set_title("Latency: bucket CDF, data against the fitted lognormal")
    else:
        for _, row in frame.iterrows():
            ax.annotate(f"p{row['x'] * 100:g}", (row["fitted"], row["observed"]), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("fitted quantile (ms)")
        ax.set_ylabel("observed quantile, median over intervals (ms)")
        ax.set_title("Latency: quantiles, data against the fitted lognormal")
    return figure


@styled
def gauge_panel(
    frame: pd.DataFrame, *, name: str, mean: float, sigma: float, ax: Axes | None = None
) -> Figure:
    """Histogram of a gauge with the fitted normal density."""
    figure, ax = _axes(ax)
    values = frame["value"].to_numpy()
    ax.hist(values, bins=40, density=True, alpha=0.6, color="0.4", label="data")
    grid = np.linspace(values.min(), values.max(), 200)
    density = np.exp(-0.5 * ((grid - mean) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    ax.plot(grid, density, color="C1", lw=1.5, label="fitted normal")
    ax.set_xlabel(name)
    ax.set_title(f"Gauge {name}: data and the fitted normal")
    ax.legend(loc="upper right")
    return figure


def write_fit_plots(fit: MetricsFit, directory: Path) -> list[Path]:
    """Draw every plot into ``directory`` (created): ``fit-*.png``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    frames = fit_frames(fit)
    written = [
        save_png(traffic_panel(frames["requests"]), directory / "fit-requests.png"),
        save_png(error_rate_panel(frames["errors"]), directory / "fit-errors.png"),
    ]
    if "latency" in frames:
        written.append(save_png(latency_panel(frames["latency"]), directory / "fit-latency.png"))
    for name, gauge in fit.gauges.items():
        figure = gauge_panel(
            frames[f"gauge:{name}"], name=name, mean=gauge.mean.value, sigma=gauge.sigma.value
        )
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        written.append(save_png(figure, directory / f"fit-gauge-{safe}.png"))
    return written
