"""Knobs: the sweep paths ``tune`` may move, their search ranges and scales.

A knob is any numeric sweep path of the experiment file (``docs/tune.md``). Continuous
knobs are searched on a log scale (limits, scales, ``alpha``) or on the log of
``1 - value`` (``confidence``); discrete knobs (``failure_limit``, ``threshold`` of
``cumulative_checks``, ``samples_per_step``) are enumerated exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from canary_mc.errors import ConfigError
from canary_mc.model import Experiment

DISCRETE_RANGES = {
    "failure_limit": (0, 8),
    "threshold": (1, 8),
    "samples_per_step": (5, 40),
}
"""Rule keys searched exactly, and their default inclusive ranges."""

SPAN = 16.0
"""A continuous knob without a given range is searched over ``[value / SPAN, value * SPAN]``."""

Scale = Literal["log", "log1m", "integer"]


@dataclass(frozen=True)
class Knob:
    """One tuned sweep path.

    Attributes
    ----------
    path : str
        Dotted sweep path, e.g. ``policy.error_threshold_scale``.
    lo, hi : float
        Inclusive search range in the knob's own units, ``lo < hi``.
    scale : {"log", "log1m", "integer"}
        ``log``: searched on ``log(value)``; ``log1m``: on ``log(1 - value)``
        (a confidence near 1); ``integer``: every integer in ``[lo, hi]``.
    """

    path: str
    lo: float
    hi: float
    scale: Scale

    @property
    def discrete(self) -> bool:
        return self.scale == "integer"

    def to_t(self, value: float) -> float:
        """Knob value to the search coordinate."""
        if self.scale == "log1m":
            return -math.log1p(-value)
        return math.log(value)

    def from_t(self, t: float) -> float:
        """Search coordinate to the knob value, rounded to 6 significant digits so the
        tuned file states exactly what was simulated."""
        value = -math.expm1(-t) if self.scale == "log1m" else math.exp(t)
        return float(f"{value:.6g}")

    def values(self) -> list[int]:
        """Every value of a discrete knob."""
        return list(range(int(self.lo), int(self.hi) + 1))


def parse_knob(spec: str, document: dict[str, Any], current: Any) -> Knob:
    """A knob from ``PATH`` or ``PATH=LO:HI`` (the command line's ``--knob``).

    Parameters
    ----------
    spec : str
        The path, optionally with an inclusive range.
    document : dict
        The experiment file's values (not used beyond the path's leaf name).
    current : scalar or None
        The path's value in the file (or its default), used for the default range.

    Raises
    ------
    ConfigError
        A range that is not two numbers ``lo < hi``, or a non-positive value without one.
    """
    path, _, span = spec.partition("=")
    leaf = path.rsplit(".", 1)[-1]
    rng: tuple[float, float] | None = None
    if span:
        lo_text, sep, hi_text = span.partition(":")
        try:
            rng = (float(lo_text), float(hi_text))
        except ValueError:
            rng = None
        if not sep or rng is None or not rng[0] < rng[1]:
            raise ConfigError(f"--knob {spec}: the range must be LO:HI with LO < HI, got {span!r}")
    if path.startswith("policy.rule.") and leaf in DISCRETE_RANGES:
        lo, hi = rng or DISCRETE_RANGES[leaf]
        return Knob(path, math.ceil(lo), math.floor(hi), "integer")
    if leaf == "confidence":
        lo, hi = rng or (0.5, 1 - 1e-7)
        if not 0 < lo < hi < 1:
            raise ConfigError(f"--knob {spec}: a confidence range must lie in (0, 1)")
        return Knob(path, lo, hi, "log1m")
    if leaf == "alpha":
        lo, hi = rng or (1e-6, 0.5)
    elif rng is not None:
        lo, hi = rng
    else:
        if not isinstance(current, int | float) or current <= 0:
            raise ConfigError(
                f"--knob {path}: has no positive value in the file ({current!r}) to search "
                f"around; give a range, e.g. --knob {path}=0.001:0.1"
            )
        lo, hi = current / SPAN, current * SPAN
    if lo <= 0:
        raise ConfigError(f"--knob {spec}: a continuous knob's range must be positive")
    return Knob(path, float(lo), float(hi), "log")


def default_knob_paths(experiment: Experiment) -> list[str]:
    """The knob the rule makes natural: its level for the statistical rules, its
    confidence for ``mannwhitney``, else the error-threshold scale (shorthand) or the
    first metric's ``max``."""
    rule = experiment.policy.rule.kind
    if rule in ("ztest", "sprt", "msprt"):
        return ["policy.rule.alpha"]
    if rule == "mannwhitney":
        return ["policy.rule.confidence"]
    metrics = experiment.policy.metrics
    if metrics is None:
        return ["policy.error_threshold_scale"]
    with_max = [m.name for m in metrics if m.max is not None]
    if not with_max:
        raise ConfigError(
            "no natural knob: no metric has a max; name one with --knob, e.g. "
            f"--knob policy.metrics.{metrics[0].name}.min=LO:HI"
        )
    return [f"policy.metrics.{with_max[0]}.max"]
