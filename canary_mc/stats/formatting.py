"""How an estimate and its interval are written for people: one precision per estimate.

The number of decimals follows the interval's width, so the estimate and both bounds are
written alike and no digit claims more than the interval supports: a rate known to
±0.2 points gets two decimals, one known to ±20 points none. Used by the terminal tables
(:mod:`canary_mc.cli.render`) and the sweep report (:mod:`canary_mc.report`).
"""

from __future__ import annotations

import math

SIGNIFICANT_WIDTH_DIGITS = 2
"""Significant digits the interval's width (``hi - lo``) is written with."""

MAX_DECIMALS = 6
"""Most decimals ever written; an interval narrower than that is shown at this precision."""


def interval_decimals(lo: float, hi: float) -> int:
    """Decimals that write the width ``hi - lo`` with two significant digits (0 to 6).

    A zero-width interval (every rollout alike) gets the fewest decimals that write its
    bound exactly, up to 6.

    Examples
    --------
    >>> interval_decimals(19.61, 19.96), interval_decimals(0.000778, 0.00514)
    (2, 4)
    >>> interval_decimals(6.0, 51.0), interval_decimals(3.0, 3.0), interval_decimals(0.5, 0.5)
    (0, 0, 1)
    """
    width = hi - lo
    if not math.isfinite(width):
        return MAX_DECIMALS
    if width <= 0:
        return next((d for d in range(MAX_DECIMALS) if round(lo, d) == lo), MAX_DECIMALS)
    decimals = SIGNIFICANT_WIDTH_DIGITS - 1 - math.floor(math.log10(width))
    return min(max(decimals, 0), MAX_DECIMALS)


def estimate_with_interval(
    value: float, lo: float | None, hi: float | None, *, unit: str = "", thousands: bool = False
) -> str:
    """``value (lo–hi)``, all three with the decimals of :func:`interval_decimals`.

    Without bounds (``None`` or NaN) the value alone, with two decimals. ``unit`` follows
    the value (``"%"``); ``thousands`` adds separators (``1,234.5``).

    Examples
    --------
    >>> estimate_with_interval(19.7925, 19.6182, 19.9681, unit="%")
    '19.79% (19.62–19.97)'
    >>> estimate_with_interval(1234.5, 1200.25, 1268.75, thousands=True)
    '1,234 (1,200–1,269)'
    """
    sep = "," if thousands else ""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{value:{sep}.2f}{unit}"
    d = interval_decimals(lo, hi)
    return f"{value:{sep}.{d}f}{unit} ({lo:{sep}.{d}f}–{hi:{sep}.{d}f})"


def rate_with_interval(rate: float, lo: float | None, hi: float | None) -> str:
    """A fraction and its interval in percent: ``19.79% (19.62–19.97)``.

    Examples
    --------
    >>> rate_with_interval(0.00002, 0.00000778, 0.0000514)
    '0.0020% (0.0008–0.0051)'
    >>> rate_with_interval(0.2, 0.0567, 0.5098)
    '20% (6–51)'
    """
    return estimate_with_interval(
        100 * rate,
        None if lo is None else 100 * lo,
        None if hi is None else 100 * hi,
        unit="%",
    )


__all__ = [
    "estimate_with_interval",
    "interval_decimals",
    "rate_with_interval",
]
