"""Shared base for the frozen, validated domain objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


def _numeric(value: Any) -> Any:
    # pydantic's lax mode reads true/false as 1/0 and "0.02" as 0.02; in an experiment
    # file either is a mistake worth reporting.
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {'true' if value else 'false'}")
    if isinstance(value, str):
        raise ValueError(f"must be a number, got the string {value!r}")
    return value


Number = Annotated[float, BeforeValidator(_numeric)]
"""A finite real number; booleans and strings are rejected."""

Count = Annotated[int, BeforeValidator(_numeric)]
"""A whole number (``1e6`` is accepted, ``2.5`` is not); booleans and strings are rejected."""


class Frozen(BaseModel):
    """Immutable pydantic model: unknown keys rejected, no NaN or infinity accepted."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


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
