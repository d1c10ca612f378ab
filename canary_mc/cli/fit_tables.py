"""Rich tables of ``canary-mc fit``: fitted parameters, goodness of fit, findings. Pure."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from canary_mc.fit.estimates import Estimate, format_p
from canary_mc.fit.service import MetricsFit


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return format_p(value)


def _row(name: str, estimate: Estimate) -> list[str]:
    se = "-" if estimate.se is None else f"{estimate.se:.3g}"
    return [
        name,
        f"{estimate.value:.4g}",
        se,
        f"{estimate.low:.4g} – {estimate.high:.4g}",
        estimate.unit,
        estimate.method,
    ]


def parameter_table(fit: MetricsFit) -> Table:
    """Every fitted parameter with its standard error, 95% interval and method."""
    table = Table(title="Fitted parameters (95% confidence intervals)")
    for column in ("parameter", "estimate", "SE", "95% CI", "unit", "method"):
        table.add_column(column, justify="right" if column in ("estimate", "SE") else "left")
    table.add_row(*_row("service.requests_per_step", fit.traffic.requests_per_step))
    if fit.traffic.diurnal_amplitude is not None:
        table.add_row(*_row("service.diurnal_amplitude", fit.traffic.diurnal_amplitude))
        table.add_row(
            "service.diurnal_period_steps",
            str(fit.traffic.period_steps),
            "-",
            "-",
            "intervals",
            "fixed (one day)",
        )
    table.add_row(*_row("service.error_rate", fit.errors.error_rate))
    table.add_row(*_row("noise.error_dispersion", fit.errors.error_dispersion))
    if fit.latency is not None:
        table.add_row(*_row("service.latency_ms", fit.latency.latency_ms))
        table.add_row(*_row("noise.latency_log_sigma", fit.latency.latency_log_sigma))
    for name, gauge in fit.gauges.items():
        table.add_row(*_row(f"gauge {escape(name)} mean", gauge.mean))
        table.add_row(*_row(f"gauge {escape(name)} sigma", gauge.sigma))
    return table


def goodness_table(fit: MetricsFit) -> Table:
    """Each goodness-of-fit check: statistic, p-value, verdict."""
    table = Table(title="Goodness of fit (p-values under the fitted model; misfit below 0.01)")
    for column in ("series", "check", "value", "p", "verdict"):
        table.add_column(column, justify="right" if column in ("value", "p") else "left")
    for check in fit.checks:
        verdict = escape(check.verdict) if check.fits else f"[bold red]{escape(check.verdict)}"
        table.add_row(
            escape(check.series), check.name, f"{check.value:.3g}", _p(check.p_value), verdict
        )
    return table


def latency_table(fit: MetricsFit) -> Table | None:
    """The quantile comparison: observed against fitted."""
    if not fit.latency_comparison:
        return None
    buckets = fit.latency_source == "buckets"
    table = Table(
        title="Latency: observed against fitted "
        + ("CDF at each bucket edge (pooled)" if buckets else "quantiles (median over intervals)")
    )
    for column in (
        ("le (ms)", "observed CDF", "fitted CDF")
        if buckets
        else ("quantile", "observed (ms)", "fitted (ms)")
    ):
        table.add_column(column, justify="right")
    for x, observed, fitted in fit.latency_comparison:
        label = f"{x:g}" if buckets else f"p{x * 100:g}"
        table.add_row(label, f"{observed:.4g}", f"{fitted:.4g}")
    return table


def findings_lines(fit: MetricsFit) -> list[str]:
    """Findings and notes, one line each."""
    return (
        [f"data: {f}" for f in fit.findings]
        + [f"note: {n}" for n in fit.notes]
        + [f"traffic: {fit.traffic.cycle_note}"]
    )
