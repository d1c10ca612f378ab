"""Shared base for the frozen, validated domain objects, and the bounds of every number.

Every numeric field has an upper bound the engine can honour (int64 products, finite
float64 arithmetic, memory), checked at load time with a message that states the bound
and why it exists. A field adopts one by its type: ``Number`` and ``Count`` carry the
general bounds; ``Seed``, ``Rollouts``, ``Steps``, ``Requests``, ``LogSigma`` and
``Probability`` the specific ones. A new field picks the type that says what it is, and
a new kind of quantity gets one :func:`bounded_number` or :func:`bounded_count` line here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError


def _numeric(value: Any) -> Any:
    # pydantic's lax mode reads true/false as 1/0 and "0.02" as 0.02; in an experiment
    # file either is a mistake worth reporting.
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {'true' if value else 'false'}")
    if isinstance(value, str):
        raise ValueError(f"must be a number, got the string {value!r}")
    if isinstance(value, int) and not -(2**1023) < value < 2**1023:
        # Beyond any float64: pydantic would report "not a valid number".
        raise ValueError(f"must be a finite number, got an integer of {len(str(value))} digits")
    return value


def shown(value: float) -> str:
    """A bound or a value as the messages print it: ``1e+09``, ``2000``, ``0.05``; whole
    numbers exactly up to 20 digits, so a bound and a value just above it differ."""
    if isinstance(value, int) and abs(value) >= 10**20:
        return f"{value:.3g}" if abs(value) < 10**300 else f"an integer of {len(str(value))} digits"
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


@dataclass(frozen=True)
class Bound:
    """Upper (and, for signed quantities, lower) limit of a field's magnitude.

    Attributes
    ----------
    limit : float
        Largest magnitude allowed.
    why : str
        What in the engine needs the bound; printed in the message.
    signed : bool
        The value may be negative, down to ``-limit``.
    low : float or None
        Smallest positive value allowed (a probability's floor), if any.
    """

    limit: float
    why: str
    signed: bool = False
    low: float | None = None

    def __call__(self, value: Any) -> Any:
        if value is None:
            return value
        if self.signed and not -self.limit <= value <= self.limit:
            raise ValueError(
                f"must be between -{shown(self.limit)} and {shown(self.limit)} "
                f"({self.why}), got {shown(value)}"
            )
        if value > self.limit:
            raise ValueError(
                f"must be at most {shown(self.limit)} ({self.why}), got {shown(value)}"
            )
        if self.low is not None and 0 < value < self.low:
            raise ValueError(f"must be at least {shown(self.low)} ({self.why}), got {shown(value)}")
        return value


def bounded_number(bound: Bound) -> Any:
    """A finite real number within ``bound``; booleans and strings are rejected."""
    return Annotated[float, BeforeValidator(_numeric), AfterValidator(bound)]


def bounded_count(bound: Bound) -> Any:
    """A whole number within ``bound`` (``1e6`` is accepted, ``2.5`` is not)."""
    return Annotated[int, BeforeValidator(_numeric), AfterValidator(bound)]


MAX_MAGNITUDE = 1e9
"""Largest magnitude of a general number (ms, fractions, factors, rates per step)."""

MAX_COUNT = 10**9
"""Largest general whole number (a limit, a period in steps)."""

MAX_STEPS = 2000
"""Most evaluation steps a policy may have. The engine holds every step of a chunk of
rollouts in memory (at least one random-number block: 4,096 rollouts x n_steps x 8 bytes
per array), so this keeps a run under about half a GiB whatever the policy."""

MAX_ROLLOUTS = 10**12
"""Most rollouts of one run or grid point: about a day at the fastest rule on all cores
of a large machine, and every per-rollout sum stays far inside int64."""

MAX_REQUESTS = 10**9
"""Most requests per evaluation step (about 3 million per second over a 5-minute step):
per-rollout sums over :data:`MAX_STEPS` steps and products of two such counts (the exact
rate comparison) stay inside int64 or exact Python integers."""

MAX_SEED = 2**63 - 1
"""Largest seed: ``summary.parquet`` stores the seed column as int64."""

MAX_LOG_SIGMA = 10.0
"""Largest log-standard deviation of a lognormal: ``exp(10 * 8)`` still fits a float64,
so a mean-one multiplier ``exp(s Z - s^2 / 2)`` never becomes ``inf * 0``."""

MIN_PROBABILITY = 1e-12
"""Smallest significance level or error probability: below it ``1 - alpha`` rounds to 1
in float64 and the normal quantile of the critical value is lost; and no simulation of
up to :data:`MAX_ROLLOUTS` rollouts could check such a level."""

Number = bounded_number(
    Bound(MAX_MAGNITUDE, "keeps sums and products over every step finite in float64", True)
)
"""A finite real number of magnitude at most :data:`MAX_MAGNITUDE`; booleans and strings
are rejected."""

Count = bounded_count(Bound(MAX_COUNT, "a general bound on whole numbers"))
"""A whole number at most :data:`MAX_COUNT` (``1e6`` is accepted, ``2.5`` is
not); booleans and strings are rejected."""

Steps = bounded_count(Bound(MAX_STEPS, f"a policy has at most {MAX_STEPS} evaluation steps"))
"""A number of evaluation steps (a duration, a delay, a count of failed checks)."""

Rollouts = bounded_count(Bound(MAX_ROLLOUTS, "more is over a day of compute on any machine"))
"""A number of simulated rollouts."""

Requests = bounded_count(Bound(MAX_REQUESTS, "per-rollout request sums must fit int64"))
"""Requests per evaluation step."""

Seed = bounded_count(Bound(MAX_SEED, "stored as int64 in summary.parquet"))
"""A seed of ``numpy.random.SeedSequence``."""

LogSigma = bounded_number(Bound(MAX_LOG_SIGMA, "exp(log-sd x 8) must fit a float64"))
"""The log-standard deviation of a lognormal."""

Probability = Annotated[
    float,
    BeforeValidator(_numeric),
    Field(gt=0, lt=1),
    AfterValidator(
        Bound(1 - MIN_PROBABILITY, "1 - p must differ from 1 in float64", low=MIN_PROBABILITY)
    ),
]
"""A probability strictly between 0 and 1 (a significance level, a power complement),
at least :data:`MIN_PROBABILITY` from either end."""


class Frozen(BaseModel):
    """Immutable pydantic model: unknown keys rejected, no NaN or infinity accepted."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def drop_defaults(data: dict, fields: dict) -> dict:
    """A model's dump without the ``fields`` still at their given defaults: fields added
    later leave the point keys and columns of files written before them unchanged."""
    for name, default in fields.items():
        if name in data and data[name] == default:
            del data[name]
    return data


def raise_at(model: str, errors: Sequence[tuple[tuple[str | int, ...], str, Any]]) -> None:
    """Raise one ``ValidationError`` whose errors point at exact field locations.

    Cross-field rules (unique names, references between sections) are checked in
    ``model_validator(mode="after")`` hooks; this keeps their messages attached to the
    offending field, so the file loader can report its line and column.

    Parameters
    ----------
    model : str
        Title of the model raising the error.
    errors : sequence of (loc, message, input)
        ``loc`` is relative to the model being validated; pydantic prefixes the parent path.
    """
    raise ValidationError.from_exception_data(
        model,
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", message),
                loc=loc,
                input=value,
            )
            for loc, message, value in errors
        ],
    )
