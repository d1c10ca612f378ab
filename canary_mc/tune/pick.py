"""Pick a setting from evaluated candidates with tune's logic: a pure function that the
sweep report's recommendation can call on a grid's rows (issue 16, item 5).

A setting meets the budget when its false-alarm rate's **upper** 95% bound is at most the
budget. Without weights, the meeting setting that spends the most budget (the highest
false-alarm rate; on common random numbers the loosest threshold, hence the most
detection in every scenario) wins, and detection stays per scenario; with weights, the
highest weighted mean detection wins. A pick at either end of the grid says so and which
way to extend it; when nothing meets the budget the closest setting is named and the
grid should extend towards stricter settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One evaluated setting.

    Attributes
    ----------
    label : str
        The setting as the report names it.
    false_alarm, false_alarm_lo, false_alarm_hi : float
        Healthy rollback rate and its 95% interval (fractions).
    detection : mapping of str to (float, float, float)
        Per regression scenario: rate, lo, hi.
    """

    label: str
    false_alarm: float
    false_alarm_lo: float
    false_alarm_hi: float
    detection: Mapping[str, tuple[float, float, float]]


@dataclass(frozen=True)
class Pick:
    """The chosen setting, or the closest when none meets the budget.

    Attributes
    ----------
    chosen : Option or None
    closest : Option or None
        When ``chosen`` is ``None``: the option with the lowest upper bound.
    n_meeting : int
    edge : str or None
        ``"loose"``: the pick is the grid's loosest setting and meets the budget (extend
        the grid looser: the budget allows more detection); ``"strict"``: nothing meets it
        and the closest is the strictest (extend the grid stricter); else ``None``.
    objective : float or None
        The weighted mean detection when weights were given.
    """

    chosen: Option | None
    closest: Option | None
    n_meeting: int
    edge: str | None
    objective: float | None

    def advice(self) -> str | None:
        """A sentence on extending the grid, or ``None``."""
        if self.edge == "loose" and self.chosen is not None:
            return (
                f"{self.chosen.label} is the loosest setting of the grid and still within the "
                "budget: extend the grid towards looser settings"
            )
        if self.edge == "strict" and self.closest is not None:
            return (
                f"no setting meets the budget and {self.closest.label} is the strictest: extend "
                "the grid towards stricter settings"
            )
        return None


def pick_setting(
    options: Sequence[Option], *, budget: float, weights: Mapping[str, float] | None = None
) -> Pick:
    """Choose among ``options`` (in the grid's order) with tune's rule (module docstring).

    Parameters
    ----------
    options : sequence of Option
        At least one.
    budget : float
        False-alarm budget, a fraction.
    weights : mapping of str to float, optional
        Scenario weights of a detection objective (normalised here); none: per scenario.

    Returns
    -------
    Pick
    """
    if not options:
        raise ValueError("options must not be empty")
    loosest = max(options, key=lambda o: o.false_alarm)
    strictest = min(options, key=lambda o: o.false_alarm_hi)
    meeting = [o for o in options if o.false_alarm_hi <= budget]
    objective = None
    if not meeting:
        edge = "strict" if strictest is min(options, key=lambda o: o.false_alarm) else None
        return Pick(None, strictest, 0, edge, None)
    if weights:
        total = sum(weights.values())

        def score(o: Option) -> float:
            return sum(w * o.detection[name][0] for name, w in weights.items()) / total

        chosen = max(meeting, key=lambda o: (score(o), -o.false_alarm_hi))
        objective = score(chosen)
    else:
        chosen = max(meeting, key=lambda o: (o.false_alarm, -o.false_alarm_hi))
    edge = "loose" if chosen is loosest else None
    return Pick(chosen, None, len(meeting), edge, objective)
