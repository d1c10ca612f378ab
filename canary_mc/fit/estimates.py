"""Fitted parameters: a point estimate, its standard error and a 95% interval."""

from __future__ import annotations

from dataclasses import dataclass

Z95 = 1.959963984540054
"""``Phi^{-1}(0.975)``: half-width of a 95% Wald interval, in standard errors."""


@dataclass(frozen=True)
class Estimate:
    """One fitted parameter.

    Attributes
    ----------
    value : float
        Point estimate, in the parameter's unit (see :attr:`unit`).
    se : float or None
        Standard error; ``None`` when the estimate sits on the boundary of its range
        (the interval then comes from the profile likelihood).
    low, high : float
        95% confidence interval.
    method : str
        How it was estimated, e.g. ``"maximum likelihood"``.
    unit : str
        ``"fraction"``, ``"ms"``, ``"requests"``, ``"log-sd"``, ...
    """

    value: float
    se: float | None
    low: float
    high: float
    method: str
    unit: str = ""

    @classmethod
    def wald(
        cls, value: float, se: float, *, method: str, unit: str = "", floor: float | None = None
    ) -> Estimate:
        """Estimate with the Wald interval ``value +- 1.96 se`` (clipped below at ``floor``)."""
        low = value - Z95 * se
        if floor is not None:
            low = max(low, floor)
        return cls(value=value, se=se, low=low, high=value + Z95 * se, method=method, unit=unit)

    def covers(self, truth: float) -> bool:
        """True when ``truth`` lies in the 95% interval."""
        return self.low <= truth <= self.high


def format_p(p: float) -> str:
    """A p-value for people: ``0.034``, ``2.1e-05``, ``< 1e-16``."""
    return "< 1e-16" if p < 1e-16 else f"{p:.2g}"
