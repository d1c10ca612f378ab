"""What the simulated world is: the baseline service, its noise, and the canary's behaviour."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from canary_mc.model._base import Frozen, Number


class Service(Frozen):
    """The baseline service, as the seed models it: known, noise-free values.

    Parameters
    ----------
    error_rate : float
        Baseline error rate as a fraction in [0, 1] (0.01 means 1%).
    latency_ms : float
        Baseline latency in ms, > 0.
    """

    error_rate: Annotated[Number, Field(ge=0, le=1)]
    latency_ms: Annotated[Number, Field(gt=0)]


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


Noise = GaussianNoise
"""The noise model union; only the Gaussian model exists so far."""


class Scenario(Frozen):
    """What the canary really does, relative to the baseline.

    The effect on each metric is zero before the onset step and
    ``delta + ramp * k`` at the ``k``-th step after onset (``k = 0`` at onset).

    Parameters
    ----------
    error_delta : float
        Step change of the error rate at onset, as a fraction (0.01 adds one point).
    latency_delta_ms : float
        Step change of latency at onset, in ms.
    onset_stage : str or int, optional
        Stage (name, or 0-based index) at whose first step the regression starts;
        ``None`` means from the very first step.
    error_ramp_per_step : float
        Growth of the error effect per step after onset (fraction per step), like a leak.
    latency_ramp_ms_per_step : float
        Growth of the latency effect per step after onset, in ms per step.
    """

    error_delta: Number = 0.0
    latency_delta_ms: Number = 0.0
    onset_stage: str | int | None = None
    error_ramp_per_step: Number = 0.0
    latency_ramp_ms_per_step: Number = 0.0

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
            and self.latency_delta_ms == 0
            and self.error_ramp_per_step == 0
            and self.latency_ramp_ms_per_step == 0
        )


HEALTHY = Scenario()
"""The scenario with no effect at all: a healthy canary."""
