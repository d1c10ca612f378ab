"""Metrics: what a policy checks, how it compares canary and baseline, and in which units.

A policy's ``metrics:`` list names any number of metrics. Each has a ``kind`` (what it
measures), a ``compare`` mode (what is checked against the limits) and limits ``max``,
``min`` or both (Flagger's ``thresholdRange``); a stage may override a metric's limits.
A policy without ``metrics:`` keeps the seed's shorthand (``error_threshold`` per stage,
``latency_threshold_ms``, ``error_threshold_scale``), which means two ``delta`` metrics
named ``error`` and ``latency`` (:func:`shorthand_checks`).

Everything the engine needs is resolved here, once, into :class:`MetricCheck` objects
(per-stage limits as floats and as the exact decimals written in the file), so no kernel
ever looks at the shorthand. See ``docs/metrics.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictBool, model_serializer, model_validator

from canary_mc.model._base import Frozen, Number, drop_defaults, raise_at

MetricKind = Literal["error_rate", "success_rate", "latency", "gauge"]
RATE_KINDS = ("error_rate", "success_rate")
"""Kinds read from the requests' errors (one signal: they share the same draws)."""

LATENCY_STATS = ("mean", "p50", "p95", "p99", "p99.9")
QUANTILE_LEVELS = {
    "p50": Fraction(1, 2),
    "p95": Fraction(95, 100),
    "p99": Fraction(99, 100),
    "p99.9": Fraction(999, 1000),
}
"""Latency statistics that are sample quantiles, and their levels."""

UNIT_SCALE = {"fraction": Fraction(1), "percent": Fraction(100)}
"""A rate in the metric's unit is the fraction times this."""

SHORTHAND_ERROR = "error"
SHORTHAND_LATENCY = "latency"
"""Names of the two metrics the shorthand (no ``metrics:`` list) stands for."""

MAX_METRICS = 32
"""Most metrics a policy may list (each is a column of every per-step array)."""


def exact_decimal(value: float) -> Fraction:
    """The number a float was written as: ``0.02`` is 1/50, not the binary double near it.

    Limits come from text (``max: 0.02``), so the rational the user wrote is the
    shortest decimal that rounds to the float; ``repr`` gives exactly that.
    """
    return Fraction(repr(float(value)))


# --- time units ----------------------------------------------------------------------------

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$")
_UNIT_SECONDS = {
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
    "d": Fraction(86400),
}


MAX_DURATION_SECONDS = 10**9
"""Longest duration (``policy.interval``, a stage's ``duration``) accepted, in seconds."""


def duration_seconds(text: str) -> Fraction:
    """Seconds in a duration written as Flagger and Argo write them: ``30s``, ``1m``, ``5m``.

    Raises ``ValueError`` (with the accepted forms) for anything else, or for zero.
    """
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"must be a duration such as '30s', '1m', '5m' or '1h' (a number then one of "
            f"ms, s, m, h, d), got {text!r}"
        )
    seconds = Fraction(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"must be a positive duration, got {text!r}")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(
            f"must be at most {MAX_DURATION_SECONDS:,} s (about 31 years; times must stay "
            f"finite floats), got {text!r}"
        )
    return seconds


def _duration_text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError(f"must be a duration such as '30s', '1m' or '5m', got {value!r}")
    duration_seconds(value)
    return value


Duration = Annotated[str, BeforeValidator(_duration_text)]
"""A duration string (``30s``, ``1m``, ``5m``, ``1h``), checked by :func:`duration_seconds`."""


# --- the file's sections ---------------------------------------------------------------------


class Limits(Frozen):
    """A stage's own limits for one metric (they replace the metric's ``max`` / ``min``).

    Parameters
    ----------
    max, min : float, optional
        In the metric's compare units (see :class:`Metric`). Unset: the metric's own.
    """

    max: Number | None = None
    min: Number | None = None


def _at(model, loc: tuple) -> object:
    for name in loc:
        model = getattr(model, name)
    return model


class Band(Frozen):
    """A metric's passing band under ``failure_limit``: a measurement that does not fail
    but lies strictly above ``max`` or strictly below ``min`` is Inconclusive (Argo
    Rollouts: both ``successCondition`` and ``failureCondition`` set, neither holds).

    Parameters
    ----------
    max, min : float, optional
        In the metric's compare units, as the metric's own ``max`` / ``min``; the same at
        every stage.
    """

    max: Number | None = None
    min: Number | None = None


class Metric(Frozen):
    """One metric the policy checks.

    Parameters
    ----------
    name : str
        Unique within the policy; stages and scenario faults refer to it by this name.
        For ``kind: gauge`` it is also the gauge's name in ``service.gauges``.
    kind : {"error_rate", "success_rate", "latency", "gauge"}
        ``error_rate``: errors over requests. ``success_rate``: one minus that.
        ``latency``: a statistic of the requests' latencies (``stat``), in ms. ``gauge``:
        a per-step measurement that does not come from requests (CPU %, memory), with
        its baseline value and noise in ``service.gauges.<name>``.
    stat : {"mean", "p50", "p95", "p99", "p99.9"}, optional
        Latency only: the statistic of one step's requests. Default: ``noise.latency_metric``
        on the counts model. The Gaussian model has one latency level and noise
        (``service.latency_ms``, ``noise.latency_sigma_ms``) whatever the statistic.
    unit : {"fraction", "percent"}
        Rates only: the unit of ``max``, ``min`` and ``min_effect`` (Flagger writes a
        success rate of 99 percent; Argo queries usually return fractions). Default
        ``fraction``. Scenario faults stay fractions (``error_delta: 0.01`` is one point).
    compare : {"absolute", "delta", "ratio"}
        What is checked against the limits: the canary's value alone (``absolute``, as
        Flagger's ``thresholdRange`` and most Argo ``successCondition`` queries),
        canary minus baseline (``delta``, the default, as the seed), or canary over
        baseline (``ratio``, Kayenta's ``allowedIncrease``).
    max, min : float, optional
        The check fails when the compared value is strictly above ``max`` or strictly
        below ``min``. Units: the metric's (rates in ``unit``, latency in ms) for
        ``absolute`` and ``delta``; a plain ratio for ``ratio``. The threshold-family
        rules need at least one of them, here or at every stage.
    direction : {"increase", "decrease"}, optional
        Statistical rules (``ztest``, ``sprt``, ``msprt``, ``mannwhitney``): which change
        is bad. Default: ``decrease`` for ``success_rate`` or a metric with only ``min``,
        else ``increase``.
    min_effect : float, optional
        ``sprt`` only: the change H1 puts on the canary, in the metric's units, > 0.
        Default: the rule's ``min_error_increase`` (rates, as a fraction) or
        ``min_latency_increase_ms`` (latency); a gauge must set it.
    inconclusive : Band, optional
        ``failure_limit`` only: the passing band; a measurement outside it that does not
        fail is Inconclusive and counts against the rule's ``inconclusive_limit``.
    """

    name: Annotated[str, Field(min_length=1)]
    kind: MetricKind
    stat: Literal["mean", "p50", "p95", "p99", "p99.9"] | None = None
    unit: Literal["fraction", "percent"] | None = None
    compare: Literal["absolute", "delta", "ratio"] = "delta"
    max: Number | None = None
    min: Number | None = None
    direction: Literal["increase", "decrease"] | None = None
    min_effect: Annotated[Number | None, Field(gt=0)] = None
    inconclusive: Band | None = None

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        return drop_defaults(handler(self), {"inconclusive": None})

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Metric:
        problems = []
        band = self.inconclusive
        if band is not None:
            if band.max is None and band.min is None:
                problems.append((("inconclusive",), "needs max, min or both (the passing band)"))
            if band.max is not None and band.min is not None and band.min > band.max:
                problems.append(
                    (
                        ("inconclusive", "min"),
                        f"must be at most inconclusive.max ({band.max:g}), got {band.min:g}",
                    )
                )
            if band.max is not None and self.max is not None and band.max > self.max:
                problems.append(
                    (
                        ("inconclusive", "max"),
                        f"must be at most the metric's max ({self.max:g}): "
                        f"a value above max fails, got {band.max:g}",
                    )
                )
            if band.min is not None and self.min is not None and band.min < self.min:
                problems.append(
                    (
                        ("inconclusive", "min"),
                        f"must be at least the metric's min ({self.min:g}): "
                        f"a value below min fails, got {band.min:g}",
                    )
                )
        if self.stat is not None and self.kind != "latency":
            problems.append((("stat",), f"only a latency metric has a stat, not {self.kind}"))
        if self.unit is not None and self.kind not in RATE_KINDS:
            problems.append(
                (("unit",), f"only error_rate and success_rate have a unit, not {self.kind}")
            )
        if self.max is not None and self.min is not None and self.min > self.max:
            problems.append((("min",), f"must be at most max ({self.max:g}), got {self.min:g}"))
        if problems:
            raise_at("Metric", [(loc, msg, _at(self, loc)) for loc, msg in problems])
        return self

    @property
    def rate_unit(self) -> Fraction:
        """The unit scale of a rate metric (1 for fractions, 100 for percent)."""
        return UNIT_SCALE[self.unit or "fraction"]

    @property
    def bad_direction(self) -> str:
        """``increase`` or ``decrease``: which change a statistical rule tests for."""
        if self.direction is not None:
            return self.direction
        if self.kind == "success_rate" or (self.min is not None and self.max is None):
            return "decrease"
        return "increase"


class Gauge(Frozen):
    """A gauge's healthy value and its per-step noise (``service.gauges.<name>``).

    Parameters
    ----------
    mean : float
        The baseline's true value, in the gauge's own unit.
    sigma : float
        Standard deviation of one step's measurement on either side, >= 0. The Gaussian
        model knows the baseline (as it does for errors and latency); the counts model
        measures both sides, each with this noise.
    """

    mean: Number
    sigma: Annotated[Number, Field(ge=0)]


class MetricFault(Frozen):
    """A scenario's fault on one metric (``scenarios.<s>.faults.<metric>``).

    A fault moves the signal the metric reads, so every metric reading that signal sees
    it: a fault on a ``success_rate`` metric changes the requests' errors, which an
    ``error_rate`` metric would read too. Onset, load gate and intermittency are the
    scenario's (``onset_stage``, ``onset_step``, ``min_traffic_pct``,
    ``intermittent_q``).

    Rate metrics take ``error_delta``, ``error_relative``, ``error_ramp_per_step``
    (fractions of requests, whatever the metric's ``unit``: 0.01 is one more point of
    errors). Latency metrics take ``latency_delta_ms``, ``latency_factor``,
    ``latency_ramp_ms_per_step``, ``latency_tail_only``. Gauges take ``delta``,
    ``relative``, ``ramp_per_step`` in the gauge's unit. The fields mean what the
    scenario's shorthand fields of the same names mean (:class:`~canary_mc.model.world.Scenario`).
    """

    error_delta: Number | None = None
    error_relative: Annotated[Number | None, Field(ge=-1)] = None
    error_ramp_per_step: Number | None = None
    latency_delta_ms: Number | None = None
    latency_factor: Annotated[Number | None, Field(gt=0)] = None
    latency_ramp_ms_per_step: Number | None = None
    latency_tail_only: StrictBool | None = None
    delta: Number | None = None
    relative: Annotated[Number | None, Field(ge=-1)] = None
    ramp_per_step: Number | None = None

    def given(self) -> tuple[str, ...]:
        """The fields set in the file."""
        return tuple(f for f in type(self).model_fields if getattr(self, f) is not None)


FAULT_FIELDS = {
    "rate": ("error_delta", "error_relative", "error_ramp_per_step"),
    "latency": (
        "latency_delta_ms",
        "latency_factor",
        "latency_ramp_ms_per_step",
        "latency_tail_only",
    ),
    "gauge": ("delta", "relative", "ramp_per_step"),
}
"""The fault fields each signal takes."""


def signal_of(kind: str) -> str:
    """The signal family a metric kind reads: ``rate``, ``latency`` or ``gauge``."""
    return "rate" if kind in RATE_KINDS else kind


# --- resolved checks: what the engine reads ------------------------------------------------


@dataclass(frozen=True)
class MetricCheck:
    """One metric, resolved for the engine: its kind, compare mode and per-stage limits.

    Attributes
    ----------
    name : str
    kind : str
        ``error_rate``, ``success_rate``, ``latency`` or ``gauge``.
    stat : str or None
        Latency statistic (``None`` for other kinds, and for latency under the
        shorthand: the noise model's own ``latency_metric``).
    compare : str
    unit : Fraction
        Rates: the scale of the unit (1 or 100); 1 for other kinds.
    max, min : tuple of (float or None), length n_stages
        Limits per stage, in the compare units (``None``: no such bound there).
    max_exact, min_exact : tuple of (Fraction or None), length n_stages
        The same limits as the exact decimals written in the file (the counts model
        compares rates with them in integers).
    direction : str
        ``increase`` or ``decrease`` (statistical rules).
    min_effect : float or None
        ``sprt``'s H1 change, in the metric's units (``None``: the rule's default).
    inconclusive : MetricCheck or None
        ``failure_limit``: the passing band as a check of its own (its ``max`` / ``min``
        the band's at every stage); a value that breaks it but not the metric's limits
        is Inconclusive.
    """

    name: str
    kind: str
    stat: str | None
    compare: str
    unit: Fraction
    max: tuple[float | None, ...]
    min: tuple[float | None, ...]
    max_exact: tuple[Fraction | None, ...]
    min_exact: tuple[Fraction | None, ...]
    direction: str = "increase"
    min_effect: float | None = None
    inconclusive: MetricCheck | None = None

    @property
    def signal(self) -> str:
        return signal_of(self.kind)

    @property
    def needs_baseline(self) -> bool:
        """True for ``delta`` and ``ratio``: no baseline data, no check."""
        return self.compare != "absolute"

    @property
    def bad_is_increase(self) -> bool:
        """True when the bad change is an increase of the signal the metric reads (more
        errors, slower, a higher gauge): a success rate falling is the error signal rising."""
        return (self.direction == "increase") != (self.kind == "success_rate")


def _limit(value: float | None, scale: float = 1.0, exact_scale: Fraction = Fraction(1)):
    if value is None:
        return None, None
    if scale == 1.0:
        return value, exact_decimal(value)
    return value * scale, exact_decimal(value) * exact_scale


def resolve_checks(metrics, stages) -> tuple[MetricCheck, ...]:
    """Resolve an explicit ``metrics:`` list against the stages' overrides."""
    checks = []
    for metric in metrics:
        maxes, mins, max_x, min_x = [], [], [], []
        for stage in stages:
            own = (stage.metrics or {}).get(metric.name)
            hi = own.max if own is not None and own.max is not None else metric.max
            lo = own.min if own is not None and own.min is not None else metric.min
            hi, hi_x = _limit(hi)
            lo, lo_x = _limit(lo)
            maxes.append(hi)
            mins.append(lo)
            max_x.append(hi_x)
            min_x.append(lo_x)
        checks.append(
            MetricCheck(
                name=metric.name,
                kind=metric.kind,
                stat=metric.stat,
                compare=metric.compare,
                unit=metric.rate_unit if metric.kind in RATE_KINDS else Fraction(1),
                max=tuple(maxes),
                min=tuple(mins),
                max_exact=tuple(max_x),
                min_exact=tuple(min_x),
                direction=metric.bad_direction,
                min_effect=metric.min_effect,
                inconclusive=_band_check(metric, len(stages)),
            )
        )
    return tuple(checks)


def _band_check(metric: Metric, n_stages: int) -> MetricCheck | None:
    """A metric's passing band as a check with the band's limits at every stage."""
    band = metric.inconclusive
    if band is None:
        return None
    hi, hi_x = _limit(band.max)
    lo, lo_x = _limit(band.min)
    return MetricCheck(
        name=metric.name,
        kind=metric.kind,
        stat=metric.stat,
        compare=metric.compare,
        unit=metric.rate_unit if metric.kind in RATE_KINDS else Fraction(1),
        max=(hi,) * n_stages,
        min=(lo,) * n_stages,
        max_exact=(hi_x,) * n_stages,
        min_exact=(lo_x,) * n_stages,
        direction=metric.bad_direction,
    )


def shorthand_checks(stages, latency_threshold_ms: float, scale: float) -> tuple[MetricCheck, ...]:
    """The seed's shorthand as two ``delta`` metrics, ``error`` and ``latency``.

    The error limit of a stage is ``error_threshold * error_threshold_scale`` (as a float
    exactly as the seed computed it, and as the product of the two written decimals).
    """
    exact_scale = exact_decimal(scale)
    error = [_limit(s.error_threshold, scale, exact_scale) for s in stages]
    latency = [
        _limit(latency_threshold_ms if s.latency_threshold_ms is None else s.latency_threshold_ms)
        for s in stages
    ]
    none = (None,) * len(stages)

    def delta_check(name: str, kind: str, limits: list) -> MetricCheck:
        return MetricCheck(
            name=name,
            kind=kind,
            stat=None,
            compare="delta",
            unit=Fraction(1),
            max=tuple(v for v, _ in limits),
            min=none,
            max_exact=tuple(x for _, x in limits),
            min_exact=none,
        )

    return (
        delta_check(SHORTHAND_ERROR, "error_rate", error),
        delta_check(SHORTHAND_LATENCY, "latency", latency),
    )


__all__ = [
    "FAULT_FIELDS",
    "LATENCY_STATS",
    "MAX_METRICS",
    "QUANTILE_LEVELS",
    "RATE_KINDS",
    "Band",
    "Duration",
    "Gauge",
    "Limits",
    "Metric",
    "MetricCheck",
    "MetricFault",
    "duration_seconds",
    "exact_decimal",
    "resolve_checks",
    "shorthand_checks",
    "signal_of",
]
