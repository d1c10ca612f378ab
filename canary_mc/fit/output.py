"""The fitted ``service`` and ``noise`` sections as commented YAML, ready to paste into an
experiment file (or to pass to ``import --service``)."""

from __future__ import annotations

import datetime
import io
import math

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from canary_mc.fit.estimates import Estimate
from canary_mc.fit.service import MetricsFit


def significant(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits (plain floats in the YAML)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def describe(estimate: Estimate) -> str:
    """``SE 0.0012, 95% CI 0.010..0.013, maximum likelihood``."""
    se = "SE n/a (on its boundary)" if estimate.se is None else f"SE {estimate.se:.3g}"
    return f"{se}, 95% CI {estimate.low:.4g}..{estimate.high:.4g}, {estimate.method}"


def duration_text(seconds: float) -> str:
    """``900`` -> ``15m``; the largest of d, h, m, s that divides it."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def service_sections(fit: MetricsFit) -> CommentedMap:
    """The ``service`` and ``noise`` mappings with a comment on every fitted value."""
    service = CommentedMap()
    traffic = fit.traffic
    service["requests_per_step"] = max(1, round(traffic.requests_per_step.value))
    service.yaml_add_eol_comment(describe(traffic.requests_per_step), "requests_per_step")
    if traffic.diurnal_amplitude is not None:
        service["diurnal_amplitude"] = significant(traffic.diurnal_amplitude.value, 3)
        service.yaml_add_eol_comment(describe(traffic.diurnal_amplitude), "diurnal_amplitude")
        service["diurnal_period_steps"] = traffic.period_steps
        service.yaml_add_eol_comment(
            f"one day of {fit.data.interval_s:g} s intervals", "diurnal_period_steps"
        )
    service["error_rate"] = significant(fit.errors.error_rate.value)
    service.yaml_add_eol_comment(describe(fit.errors.error_rate), "error_rate")
    if fit.latency is not None:
        service["latency_ms"] = significant(fit.latency.latency_ms.value)
        service.yaml_add_eol_comment(describe(fit.latency.latency_ms), "latency_ms")
    if fit.gauges:
        # issue 12's schema: service.gauges.<name> = {mean, sigma}, read by kind: gauge metrics.
        gauges = CommentedMap()
        for name, gauge in fit.gauges.items():
            entry = CommentedMap()
            entry["mean"] = significant(gauge.mean.value)
            entry.yaml_add_eol_comment(describe(gauge.mean), "mean")
            entry["sigma"] = significant(gauge.sigma.value, 3)
            entry.yaml_add_eol_comment(describe(gauge.sigma), "sigma")
            gauges[name] = entry
        service["gauges"] = gauges
    noise = CommentedMap()
    noise["model"] = "counts"
    noise["error_dispersion"] = significant(fit.errors.error_dispersion.value, 3)
    noise.yaml_add_eol_comment(describe(fit.errors.error_dispersion), "error_dispersion")
    if fit.latency is not None:
        noise["latency_log_sigma"] = significant(fit.latency.latency_log_sigma.value, 3)
        noise.yaml_add_eol_comment(describe(fit.latency.latency_log_sigma), "latency_log_sigma")
    document = CommentedMap()
    document["service"] = service
    document["noise"] = noise
    return document


def header_lines(fit: MetricsFit, sources: list[str]) -> list[str]:
    """Comment lines above the YAML: where the numbers come from and what to check."""
    data = fit.data
    start = datetime.datetime.fromtimestamp(data.start, tz=datetime.UTC)
    days = data.n_intervals * data.interval_s / 86_400
    lines = [
        f"Fitted by `canary-mc fit` from {', '.join(sources)}",
        f"{data.n_intervals} intervals of {data.interval_s:g} s ({days:.2f} days) from "
        f"{start:%Y-%m-%d %H:%M} UTC",
        f"per-step values are per {duration_text(data.interval_s)}: use policy.interval: "
        f"{duration_text(data.interval_s)} (the traffic is "
        f"{fit.traffic.requests_per_step.value / data.interval_s:.4g} requests per second)",
        f"traffic: {fit.traffic.cycle_note}",
    ]
    if fit.latency is None:
        lines.append(
            "latency: no latency series given; fill in service.latency_ms and "
            "noise.latency_log_sigma"
        )
    misfits = [c for c in fit.checks if not c.fits]
    if misfits:
        lines.append("the model does NOT fit every series (run `canary-mc fit` for details):")
        lines += [f"  {c.series}: {c.name}: {c.verdict}" for c in misfits]
    if fit.gauges:
        lines.append(
            "service.gauges needs the metrics schema (issue 12); check each with a "
            "policy.metrics entry of kind: gauge and the same name"
        )
    lines += [f"note: {note}" for note in fit.notes]
    lines += [f"data: {finding}" for finding in fit.findings]
    return lines


def fit_yaml(fit: MetricsFit, sources: list[str]) -> str:
    """The whole YAML text: header comments, then ``service`` and ``noise``."""
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    stream = io.StringIO()
    yaml.dump(service_sections(fit), stream)
    header = "".join(f"# {line}\n" for line in header_lines(fit, sources))
    return header + stream.getvalue()
