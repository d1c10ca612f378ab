"""What the simulated world is: the baseline service, its noise, and the canary's behaviour."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, StrictBool, Tag, field_validator

from canary_mc.model._base import Count, Frozen, Number
from canary_mc.model.metrics import Gauge, MetricFault


class Service(Frozen):
    """The baseline service: its true error rate and latency, and (counts model) its traffic.

    Parameters
    ----------
    error_rate : float
        Baseline error rate as a fraction in [0, 1] (0.01 means 1%).
    latency_ms : float
        Baseline latency in ms, > 0. Under the counts model, the median latency of one
        request.
    requests_per_step : int, optional
        Counts model only (required there, or ``requests_per_second``): total requests
        served in one evaluation interval, canary and baseline together, >= 1.
    requests_per_second : float, optional
        Counts model only, instead of ``requests_per_step``: with ``policy.interval`` of
        ``T`` seconds, ``requests_per_step`` is ``requests_per_second * T`` rounded half up.
    baseline : {"rest", "matched"}
        Counts model only. ``rest``: the baseline serves the requests the canary does not
        (none at 100% traffic); ``matched``: the baseline is measured on as many requests
        as the canary (Kayenta-style equal-sized baseline).
    diurnal_amplitude : float
        Counts model only. Relative amplitude in [0, 1) of a daily traffic cycle: step
        ``j`` carries ``requests_per_step * (1 + a * sin(2 pi j / diurnal_period_steps))``
        requests. 0 (the default) means flat traffic.
    diurnal_period_steps : int
        Length of the traffic cycle in evaluation steps, >= 1. Default 288 (5-minute
        steps in a day).
    gauges : dict of str to Gauge
        Each gauge metric's healthy value and per-step noise, by the metric's name:
        ``{cpu: {mean: 40, sigma: 3}}``.
    """

    error_rate: Annotated[Number, Field(ge=0, le=1)]
    latency_ms: Annotated[Number, Field(gt=0)]
    requests_per_step: Annotated[Count | None, Field(ge=1)] = None
    requests_per_second: Annotated[Number | None, Field(gt=0)] = None
    gauges: dict[str, Gauge] = Field(default_factory=dict)
    baseline: Literal["rest", "matched"] = "rest"
    diurnal_amplitude: Annotated[Number, Field(ge=0, lt=1)] = 0.0
    diurnal_period_steps: Annotated[Count, Field(ge=1)] = 288


class GaussianNoise(Frozen):
    """The seed's measurement noise: each step adds independent Gaussian noise.

    The canary's observed error rate at a step is
    ``max(0, error_rate + effect + error_sigma * Z)`` and its latency
    ``max(0, latency_ms + effect + latency_sigma_ms * Z')`` with ``Z, Z'`` standard normal.

    Parameters
    ----------
    model : {"gaussian"}
        Selects this noise model.
    error_sigma : float
        Standard deviation of the observed error rate (fraction), >= 0.
    latency_sigma_ms : float
        Standard deviation of the observed latency in ms, >= 0.
    """

    model: Literal["gaussian"] = "gaussian"
    error_sigma: Annotated[Number, Field(ge=0)]
    latency_sigma_ms: Annotated[Number, Field(ge=0)]


class CountsNoise(Frozen):
    """Traffic-based noise: request counts, binomial errors, lognormal request latencies.

    At each step the canary and the baseline each serve a number of requests (see
    :class:`Service`); their error counts are binomial at their own (jittered) rates and
    their latency metric is computed from lognormal per-request latencies. Both sides
    are measured. See ``docs/model.md``, "Counts model".

    Parameters
    ----------
    model : {"counts"}
        Selects this noise model.
    error_dispersion : float
        Log-standard deviation (>= 0) of a mean-one lognormal multiplier on the error
        rate of each step: overdispersion. 0 means plain binomial counts.
    error_dispersion_mode : {"independent", "common", "both"}
        ``independent``: canary and baseline each get their own multiplier;
        ``common``: one shared multiplier per step (an upstream blip hits both);
        ``both``: a shared and an independent multiplier, each with log-sd
        ``error_dispersion / sqrt(2)``, so every mode gives each side the same spread.
    latency_log_sigma : float
        Log-standard deviation (> 0) of one request's lognormal latency; its median is
        ``service.latency_ms``.
    latency_metric : {"mean", "p50", "p95", "p99"}
        The latency each side reports per step: the mean of its requests' latencies, or
        a sample quantile (the ``ceil(q * n)``-th smallest of ``n`` latencies).
    """

    model: Literal["counts"]
    error_dispersion: Annotated[Number, Field(ge=0)] = 0.0
    error_dispersion_mode: Literal["independent", "common", "both"] = "independent"
    latency_log_sigma: Annotated[Number, Field(gt=0)] = 0.5
    latency_metric: Literal["mean", "p50", "p95", "p99"] = "mean"


def _noise_model(value: Any) -> str | None:
    # A file without ``model`` means the seed's Gaussian model, so old files stay valid.
    if isinstance(value, dict):
        model = value.get("model", "gaussian")
    else:
        model = getattr(value, "model", None)
    return model if model in ("gaussian", "counts") else None


Noise = Annotated[
    Annotated[GaussianNoise, Tag("gaussian")] | Annotated[CountsNoise, Tag("counts")],
    Discriminator(
        _noise_model,
        custom_error_type="noise_model",
        custom_error_message="model must be one of 'gaussian', 'counts'",
    ),
]
"""The noise model: :class:`GaussianNoise` (``model: gaussian``, the default) or
:class:`CountsNoise` (``model: counts``)."""


class Scenario(Frozen):
    """What the canary really does, relative to the baseline: a combinable fault.

    The fault is *active* from its onset step (the first step of ``onset_stage``, plus
    ``onset_step``) on, at steps whose canary traffic is at least ``min_traffic_pct``.
    At the ``k``-th step after onset (``k = 0`` at onset) an active fault changes

    - the error rate to ``rate * (1 + error_relative) + error_delta + error_ramp_per_step * k``
      (``rate`` is the canary's healthy rate; under the Gaussian model the service's);
    - latency to ``latency * latency_factor + latency_delta_ms + latency_ramp_ms_per_step * k``
      (every request's, under the counts model), or, with ``latency_tail_only``, only the
      slow tail (counts model: the p99 of one request's latency moves that way, the
      median does not).

    With ``intermittent_q < 1`` an active fault is present in each rollout's step with
    probability ``intermittent_q``, independently.

    Parameters
    ----------
    error_delta : float
        Absolute step change of the error rate at onset, as a fraction (0.01 adds one point).
    error_relative : float
        Relative change of the error rate, >= -1 (0.5 means 50% more errors).
    latency_delta_ms : float
        Step change of latency at onset, in ms.
    latency_factor : float
        Multiplies latency, > 0 (1.2 means 20% slower).
    onset_stage : str or int, optional
        Stage (name, or 0-based index) at whose first step the fault starts;
        ``None`` means the first stage.
    onset_step : int
        Further steps of delay after the start of ``onset_stage``, >= 0. Alone, it is the
        0-based step of the rollout at which the fault starts.
    error_ramp_per_step : float
        Growth of the error effect per step after onset (fraction per step), like a leak.
    latency_ramp_ms_per_step : float
        Growth of the latency effect per step after onset, in ms per step.
    intermittent_q : float
        Probability in [0, 1] that an active fault is present at a given step. Default 1.
    min_traffic_pct : float
        Load-dependent fault: active only at steps whose canary traffic is at least this
        percentage, in [0, 100]. Default 0 (always).
    latency_tail_only : bool
        Counts model only: the latency change moves the p99 of one request's latency, not
        its median.
    faults : dict of str to MetricFault
        Faults by metric name (``policy.metrics``, or a gauge of ``service.gauges``): see
        :class:`~canary_mc.model.metrics.MetricFault`. The fields above are shorthand
        for a fault on every error-rate and every latency metric.
    """

    error_delta: Number = 0.0
    error_relative: Annotated[Number, Field(ge=-1)] = 0.0
    latency_delta_ms: Number = 0.0
    latency_factor: Annotated[Number, Field(gt=0)] = 1.0
    onset_stage: str | int | None = None
    onset_step: Annotated[Count, Field(ge=0)] = 0
    error_ramp_per_step: Number = 0.0
    latency_ramp_ms_per_step: Number = 0.0
    intermittent_q: Annotated[Number, Field(ge=0, le=1)] = 1.0
    min_traffic_pct: Annotated[Number, Field(ge=0, le=100)] = 0.0
    latency_tail_only: StrictBool = False
    faults: dict[str, MetricFault] = Field(default_factory=dict)

    @field_validator("onset_stage", mode="before")
    @classmethod
    def _stage_reference(cls, value: object) -> object:
        if (
            value is None
            or isinstance(value, str)
            or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        ):
            return value
        got = ("true" if value else "false") if isinstance(value, bool) else repr(value)
        raise ValueError(f"must be a stage name or a 0-based stage index, got {got}")

    @property
    def healthy(self) -> bool:
        """True when the canary behaves exactly like the baseline."""
        return (
            self.error_delta == 0
            and self.error_relative == 0
            and self.latency_delta_ms == 0
            and self.latency_factor == 1
            and self.error_ramp_per_step == 0
            and self.latency_ramp_ms_per_step == 0
            and all(_no_effect(f) for f in self.faults.values())
        )

    @property
    def intermittent(self) -> bool:
        """True when the fault is present only in some steps, at random."""
        return self.intermittent_q < 1


def _no_effect(fault: MetricFault) -> bool:
    return all(
        getattr(fault, name) in (None, 0, False)
        for name in fault.given()
        if name != "latency_factor"
    ) and fault.latency_factor in (None, 1)


HEALTHY = Scenario()
"""The scenario with no effect at all: a healthy canary."""
