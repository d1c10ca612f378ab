"""The ``sweep`` section of an experiment file: which parameters to vary, and over what.

A sweep has crossed ``grid`` axes and an optional ``zip`` of rows whose values vary
together; the zip rows are crossed with the grid. Paths are dotted parameter paths into
the experiment (``policy.error_threshold_scale``, ``noise.error_sigma``,
``policy.stages.<stage name>.error_threshold``, ``scenarios.<name>.error_delta``, ...);
whether a path names a real scalar parameter is checked by the file loader, which knows
the file's stage and scenario names.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from canary_mc.model._base import Count, Frozen, Number, raise_at


def _scalar(value: Any) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or isinstance(item, dict | list):
                raise ValueError(
                    "a mapping value must map names to numbers, strings or true/false, "
                    f"got {key!r}: {_kind(item)}"
                )
            _scalar(item)
        return value
    if isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value)):
        return value
    if isinstance(value, float):
        raise ValueError(f"must be a finite number, got {value}")
    raise ValueError(f"must be a number, a string, true/false or a mapping, got {_kind(value)}")


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing (null)"}.get(
        type(value), type(value).__name__
    )


Scalar = Annotated[Any, BeforeValidator(_scalar)]
"""A value a swept parameter may take: a finite number, a string, a boolean, or a flat
mapping of them (which replaces a whole section, e.g. ``policy.rule``)."""

MAX_AXIS_VALUES = 100_000
"""Most values one ``{start, stop, ...}`` range may expand to."""


class Linspace(Frozen):
    """``num`` evenly spaced values from ``start`` to ``stop``, both included."""

    start: Number
    stop: Number
    num: Annotated[Count, Field(ge=1, le=MAX_AXIS_VALUES)]

    def values(self) -> tuple[float, ...]:
        if self.num == 1:
            return (self.start,)
        width = (self.stop - self.start) / (self.num - 1)
        return tuple(
            self.stop if i == self.num - 1 else _tidy(self.start + i * width)
            for i in range(self.num)
        )


class Arange(Frozen):
    """``start, start + step, ...`` up to ``stop``, which is included when it is on the grid.

    A value within a millionth of a step of ``stop`` counts as on the grid, so
    ``{start: 0.5, stop: 2, step: 0.25}`` ends at 2 despite binary rounding.
    """

    start: Number
    stop: Number
    step: Annotated[Number, Field(gt=0)]

    @model_validator(mode="after")
    def _bounded(self) -> Arange:
        if self.stop < self.start:
            raise_at(
                "Arange",
                [
                    (
                        ("stop",),
                        f"must be at least start ({self.start:g}), got {self.stop:g}",
                        self.stop,
                    )
                ],
            )
        if self._count() > MAX_AXIS_VALUES:
            raise_at(
                "Arange",
                [
                    (
                        ("step",),
                        f"gives {self._count():,} values, more than the "
                        f"{MAX_AXIS_VALUES:,} allowed on one axis",
                        self.step,
                    )
                ],
            )
        return self

    def _count(self) -> int:
        steps = (self.stop - self.start) / self.step + 1e-6
        # A step far below the range gives inf (5e-324): as many values as can be counted.
        return math.floor(steps) + 1 if steps < 2**62 else 2**62

    def values(self) -> tuple[float, ...]:
        return tuple(_tidy(self.start + i * self.step) for i in range(self._count()))


def _tidy(value: float) -> float:
    """Round off binary noise (0.30000000000000004 -> 0.3) at 12 significant digits."""
    return float(f"{value:.12g}")


AXIS_TAGS = ("<values>", "<linspace>", "<arange>")
"""Union tags pydantic adds to error locations inside an axis; the loader drops them."""


def _axis_kind(value: Any) -> str | None:
    if isinstance(value, Linspace | Arange):  # serializing a validated sweep
        return AXIS_TAGS[1] if isinstance(value, Linspace) else AXIS_TAGS[2]
    if isinstance(value, list):
        return AXIS_TAGS[0]
    if isinstance(value, dict):
        if "num" in value:
            return AXIS_TAGS[1]
        if "step" in value:
            return AXIS_TAGS[2]
    return None


AxisSpec = Annotated[
    Annotated[Annotated[list[Scalar], Field(min_length=1)], Tag(AXIS_TAGS[0])]
    | Annotated[Linspace, Tag(AXIS_TAGS[1])]
    | Annotated[Arange, Tag(AXIS_TAGS[2])],
    Discriminator(
        _axis_kind,
        custom_error_type="axis_spec",
        custom_error_message="must be a list of values, {start, stop, num} or {start, stop, step}",
    ),
]
"""How one axis is written: a list of values, ``{start, stop, num}`` or ``{start, stop, step}``."""


def axis_values(spec: list[Any] | Linspace | Arange) -> tuple[Any, ...]:
    """The values of one axis, in order."""
    return tuple(spec) if isinstance(spec, list) else spec.values()


class Sweep(Frozen):
    """Parameters to vary.

    Parameters
    ----------
    grid : dict of str to values
        Each dotted path maps to a list, ``{start, stop, num}`` or ``{start, stop, step}``.
        The axes are crossed, the first one varying slowest.
    zip : list of dict of str to value
        Rows of values that vary together; every row names the same paths, none of which
        is a grid axis. The rows are crossed with the grid, varying fastest.
    """

    grid: dict[str, AxisSpec] = Field(default_factory=dict)
    zip: list[dict[str, Scalar]] = Field(default_factory=list)

    @field_validator("grid")
    @classmethod
    def _distinct_values(cls, grid: dict[str, Any]) -> dict[str, Any]:
        problems = []
        for path, spec in grid.items():
            values = axis_values(spec)
            seen: set[Any] = set()
            for i, value in enumerate(values):
                key = (type(value) is bool, _hashable(value))
                if key in seen:
                    where = (path, i) if isinstance(spec, list) else (path,)
                    problems.append((where, f"repeats the value {value!r}", value))
                seen.add(key)
        if problems:
            raise_at("Sweep", problems)
        return grid

    @model_validator(mode="after")
    def _consistent(self) -> Sweep:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        if not self.grid and not self.zip:
            problems.append(
                ((), "must sweep at least one parameter in grid or zip, got neither", None)
            )
        if self.zip:
            first = list(self.zip[0])
            if not first:
                problems.append((("zip", 0), "a zip row must name at least one parameter", {}))
            for i, row in enumerate(self.zip[1:], start=1):
                if sorted(row) != sorted(first):
                    problems.append(
                        (
                            ("zip", i),
                            f"must name the same parameters as the first row "
                            f"({', '.join(first)}), got {', '.join(row) or 'none'}",
                            row,
                        )
                    )
            for path in first:
                if path in self.grid:
                    problems.append(
                        (("zip", 0, path), "is also a grid axis; sweep it in one place", path)
                    )
        if problems:
            raise_at("Sweep", problems)
        return self

    @property
    def paths(self) -> tuple[str, ...]:
        """Swept paths: the grid axes, then the zip columns, in file order."""
        return (*self.grid, *(self.zip[0] if self.zip else ()))

    @property
    def n_points(self) -> int:
        """Number of grid points, computed without expanding the grid."""
        n = max(len(self.zip), 1)
        for spec in self.grid.values():
            n *= len(axis_values(spec)) if isinstance(spec, list) else _length(spec)
        return n


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else value


def _length(spec: Linspace | Arange) -> int:
    return spec.num if isinstance(spec, Linspace) else spec._count()
