"""Pure selections behind each plot and the recommendation table.

No matplotlib and no files: a summary DataFrame in, small DataFrames and frozen records
out, so the tests can check exactly which cells and values each plot shows.

Vocabulary
----------
threshold setting
    One combination of the values of the swept ``policy.*`` paths whose last part
    contains ``threshold`` (``policy.error_threshold_scale``,
    ``policy.stages.canary-5pct.error_threshold``, ``policy.latency_threshold_ms``).
noise level
    One combination of the values of the swept ``noise.*`` paths and of traffic
    (``service.requests_per_step``).
other axes
    Every other swept path, and any axis named by ``--rows``, ``--cols`` or ``--facet``;
    the plots draw one panel per combination of their values.

Settings and levels are ordered by their values, ascending, axis by axis in file order.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from canary_mc.errors import ConfigError, ResultsError
from canary_mc.stats.formatting import rate_with_interval
from canary_mc.tune.pick import Option, pick_setting

NOT_SWEPT = "as in the file"
"""Label of the single threshold setting (or noise level) of a sweep that does not vary it."""

MAX_PANELS = 12
"""Most panels drawn in one figure before it is split into numbered pages."""

AxisValues = tuple[tuple[str, Any], ...]
"""Values of some swept axes, as ``((dotted_path, value), ...)``."""


@dataclass(frozen=True)
class AxisRoles:
    """The swept axes, split by the role they play in the plots (each in file order)."""

    threshold: tuple[str, ...]
    noise: tuple[str, ...]
    other: tuple[str, ...]

    def for_lines(self) -> AxisRoles:
        """Roles in the line plots (trade-off, time to decision): the first threshold
        axis runs along each line; further threshold axes get panels of their own, so a
        line never zigzags through a second axis's values."""
        return AxisRoles(self.threshold[:1], self.noise, self.threshold[1:] + self.other)

    def for_heatmap(self) -> AxisRoles:
        """Roles in the heatmap: with two threshold axes, the first across and the second
        down (in the ``noise`` slot), and the noise axes as panels; otherwise unchanged."""
        if len(self.threshold) < 2:
            return self
        return AxisRoles(
            self.threshold[:1], self.threshold[1:2], self.threshold[2:] + self.noise + self.other
        )


def most_combinations(summary: pd.DataFrame, axes: Sequence[str], within: Sequence[str]) -> int:
    """The most distinct combinations of ``axes`` found within one combination of
    ``within`` (1 for no axes)."""
    if not axes:
        return 1
    if not within:
        return len(summary.drop_duplicates(list(axes)))
    counts = summary.drop_duplicates([*within, *axes]).groupby(list(within), observed=True).size()
    return int(counts.max())


def bar_roles(summary: pd.DataFrame, roles: AxisRoles) -> AxisRoles:
    """Roles in the stage bars: one bar per threshold setting, as long as some figure
    would get more than one; else one per noise level (traffic, say), else one per value
    of the other axes (a zip of rules), so a figure never shows lone bars page after page.

    The bar axes take the ``threshold`` slot.
    """
    if most_combinations(summary, roles.threshold, [*roles.noise, *roles.other]) > 1:
        return roles
    if most_combinations(summary, roles.noise, roles.other) > 1:
        return AxisRoles(roles.noise, (), roles.threshold + roles.other)
    if roles.other:
        return AxisRoles(roles.other + roles.threshold, roles.noise, ())
    return roles


NOISE_SERVICE_PATHS = ("service.requests_per_step",)
"""``service.`` paths that set how noisy the measurements are: under the counts model,
fewer requests per step mean noisier rates, so traffic is a noise axis."""


def is_threshold_axis(path: str) -> bool:
    """A ``policy.`` path whose last part names a threshold."""
    parts = path.split(".")
    return len(parts) > 1 and parts[0] == "policy" and "threshold" in parts[-1]


def is_noise_axis(path: str) -> bool:
    """A ``noise.`` path, or traffic (:data:`NOISE_SERVICE_PATHS`)."""
    parts = path.split(".")
    return (len(parts) > 1 and parts[0] == "noise") or path in NOISE_SERVICE_PATHS


def classify_axes(axes: Sequence[str], layout: Iterable[str | None] = ()) -> AxisRoles:
    """Split swept dotted paths into threshold, noise and other axes.

    Axes named in ``layout`` (``--rows``, ``--cols``, ``--facet``) lay panels out, so
    they count as other axes whatever their kind.

    Examples
    --------
    >>> classify_axes(["noise.error_sigma", "policy.error_threshold_scale", "rollouts"])
    AxisRoles(threshold=('policy.error_threshold_scale',), noise=('noise.error_sigma',), \
other=('rollouts',))
    >>> classify_axes(["noise.error_sigma", "policy.error_threshold_scale"],
    ...               layout=["noise.error_sigma"]).other
    ('noise.error_sigma',)
    """
    named = {a for a in layout if a is not None}
    threshold = tuple(a for a in axes if is_threshold_axis(a) and a not in named)
    noise = tuple(a for a in axes if is_noise_axis(a) and a not in named)
    other = tuple(a for a in axes if a not in threshold and a not in noise)
    return AxisRoles(threshold=threshold, noise=noise, other=other)


def format_value(value: Any) -> str:
    """A swept value as written in a label: ``0.005``, ``2``, ``canary-5pct``; a swept
    mapping (a whole ``policy.rule``, stored as JSON) as ``sprt(alpha=0.02, beta=0.2)``.

    >>> format_value('{"alpha": 0.02273, "beta": 0.2, "kind": "sprt"}')
    'sprt(alpha=0.02273, beta=0.2)'
    """
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):g}"
    if isinstance(value, str) and value.startswith("{"):
        try:
            mapping = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(mapping, dict):
            kind = mapping.pop("kind", "")
            inner = ", ".join(f"{k}={format_value(v)}" for k, v in mapping.items())
            return f"{kind}({inner})" if kind else inner
    return str(value)


def short_labels(values: Sequence[Any]) -> dict[Any, str]:
    """Labels of one axis's values for a crowded axis: a swept mapping by its ``kind``
    alone when that tells the values apart (``sprt`` rather than its parameters).

    >>> short_labels(['{"kind": "sprt", "alpha": 0.02}', '{"kind": "msprt", "tau": 1}'])
    {'{"kind": "sprt", "alpha": 0.02}': 'sprt', '{"kind": "msprt", "tau": 1}': 'msprt'}
    """
    full = {v: format_value(v) for v in values}
    kinds = {v: text.split("(", 1)[0] for v, text in full.items()}
    mappings = all(isinstance(v, str) and v.startswith("{") for v in values)
    if mappings and all(kinds.values()) and len(set(kinds.values())) == len(kinds):
        return kinds
    return full


def format_values(values: AxisValues) -> str:
    """``path = value`` pairs joined by commas; empty for no values."""
    return ", ".join(f"{axis} = {format_value(v)}" for axis, v in values)


def format_percent(rate: float) -> str:
    """A fraction as a percentage with two or three significant digits.

    Examples
    --------
    >>> [format_percent(r) for r in (0, 0.00012, 0.005, 0.0123, 0.1, 0.25, 0.99996, 1)]
    ['0%', '0.012%', '0.5%', '1.2%', '10%', '25%', '>99.9%', '100%']
    """
    if not math.isfinite(rate):
        return "—"
    pct = 100 * rate
    if pct == 0 or pct == 100:
        return f"{pct:.0f}%"
    if pct < 10:
        return f"{pct:.2g}%"
    text = f"{pct:.3g}"
    return ">99.9%" if text == "100" else f"{text}%"


def format_interval(rate: float, lo: float, hi: float) -> str:
    """``rate (lo–hi)`` in percent, one precision for all three
    (:func:`canary_mc.stats.formatting.rate_with_interval`); the rate alone when the
    bounds are missing."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return format_percent(rate)
    return rate_with_interval(rate, lo, hi)


def _ranked(frame: pd.DataFrame, axes: tuple[str, ...]) -> tuple[list[str], list[int]]:
    """Label and ascending rank of each row's combination of ``axes``."""
    if not axes:
        return [NOT_SWEPT] * len(frame), [0] * len(frame)
    keys = list(frame[list(axes)].itertuples(index=False, name=None))
    unique = sorted(set(keys))
    rank = {key: i for i, key in enumerate(unique)}
    short = [short_labels([key[k] for key in unique]) for k in range(len(axes))]
    label = {key: " / ".join(short[k][v] for k, v in enumerate(key)) for key in unique}
    if len(set(label.values())) < len(unique):  # two values alike at 6 digits: show all
        label = {key: " / ".join(repr(v) for v in key) for key in unique}
    return [label[k] for k in keys], [rank[k] for k in keys]


def with_settings(summary: pd.DataFrame, roles: AxisRoles) -> pd.DataFrame:
    """The summary with four columns added: ``threshold_setting`` (label),
    ``threshold_order`` (rank, ascending values), ``noise_level`` and ``noise_order``.

    Raises
    ------
    ResultsError
        If two rows share a point's every swept value and scenario (the grid repeats a
        point, so the plots could not tell them apart).
    """
    frame = summary.copy()
    frame["threshold_setting"], frame["threshold_order"] = _ranked(frame, roles.threshold)
    frame["noise_level"], frame["noise_order"] = _ranked(frame, roles.noise)
    keys = [*roles.threshold, *roles.noise, *roles.other, "scenario"]
    repeated = frame.duplicated(subset=keys)
    if repeated.any():
        row = frame[repeated].iloc[0]
        raise ResultsError(
            f"points {sorted(frame.loc[(frame[keys] == row[keys]).all(axis=1), 'point'])} "
            "have the same swept values; the plots cannot tell them apart"
        )
    return frame


def scenario_order(frame: pd.DataFrame) -> list[str]:
    """Scenario names in the order the summary lists them (healthy first)."""
    return list(pd.unique(frame.sort_values("point", kind="stable")["scenario"]))


def combinations(frame: pd.DataFrame, axes: Sequence[str]) -> list[tuple[Any, ...]]:
    """The combinations of ``axes`` values present in ``frame``, ascending; ``[()]`` for none."""
    if not axes:
        return [()]
    return sorted(set(frame[list(axes)].itertuples(index=False, name=None)))


def select(frame: pd.DataFrame, values: Iterable[tuple[str, Any]]) -> pd.DataFrame:
    """The rows of ``frame`` with the given value on each axis."""
    mask = np.ones(len(frame), dtype=bool)
    for axis, value in values:
        mask &= (frame[axis] == value).to_numpy()
    return frame[mask]


# --- layout -------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """One panel of a figure: its grid cell and the other-axis values it shows."""

    row: int
    col: int
    values: AxisValues


@dataclass(frozen=True)
class Page:
    """One figure file: values fixed on the whole figure, and its grid of panels."""

    values: AxisValues
    n_rows: int
    n_cols: int
    panels: tuple[Panel, ...]


def plan_pages(
    frame: pd.DataFrame,
    other: tuple[str, ...],
    *,
    rows: str | None = None,
    cols: str | None = None,
    facet: str | None = None,
    max_panels: int = MAX_PANELS,
) -> list[Page]:
    """Lay out one panel per combination of the other axes.

    Without options, every combination gets a panel, wrapped in a grid, and a figure
    with more than ``max_panels`` panels is split into numbered pages. ``facet`` makes one
    figure per value of that axis. ``rows`` / ``cols`` put one axis down and one across a
    panel grid; every other axis not named then also gets one figure per value.

    Parameters
    ----------
    frame : DataFrame
        Summary rows (any scenarios).
    other : tuple of str
        The other axes (:attr:`AxisRoles.other`).
    rows, cols, facet : str or None
        Other axes to lay out by, all different.

    Returns
    -------
    list of Page
        In ascending order of the values fixed per page. Only combinations present in
        ``frame`` get a panel (a zipped sweep leaves cells of the grid empty).

    Raises
    ------
    ConfigError
        If an option names an axis that is not an other axis, or two options the same.
    """
    named = {"rows": rows, "cols": cols, "facet": facet}
    for option, axis in named.items():
        if axis is None:
            continue
        if axis not in other:
            choices = ", ".join(other) if other else "none: this sweep has no other axes"
            raise ConfigError(
                f"{option}: {axis!r} is not a swept axis to lay panels out by; "
                f"choose from: {choices}"
            )
    given = [a for a in named.values() if a is not None]
    if len(set(given)) < len(given):
        raise ConfigError(f"rows, cols and facet must name different axes, got {given}")

    pages: list[Page] = []
    if rows is not None or cols is not None:
        page_axes = [a for a in other if a == facet] + [
            a for a in other if a not in (rows, cols, facet)
        ]
        for page_key in combinations(frame, page_axes):
            page_values = tuple(zip(page_axes, page_key, strict=True))
            sub = select(frame, page_values)
            row_keys = combinations(sub, [rows] if rows else [])
            col_keys = combinations(sub, [cols] if cols else [])
            panels = []
            for i, row_key in enumerate(row_keys):
                for j, col_key in enumerate(col_keys):
                    values = tuple(zip([rows] if rows else [], row_key, strict=True)) + tuple(
                        zip([cols] if cols else [], col_key, strict=True)
                    )
                    if not select(sub, values).empty:
                        panels.append(Panel(i, j, values))
            pages.append(Page(page_values, len(row_keys), len(col_keys), tuple(panels)))
        return pages

    page_axes = [facet] if facet is not None else []
    wrap_axes = [a for a in other if a != facet]
    for page_key in combinations(frame, page_axes):
        page_values = tuple(zip(page_axes, page_key, strict=True))
        keys = combinations(select(frame, page_values), wrap_axes)
        for start in range(0, len(keys), max_panels):
            chunk = keys[start : start + max_panels]
            n_cols = len(chunk) if len(chunk) <= 3 else math.ceil(math.sqrt(len(chunk)))
            n_rows = math.ceil(len(chunk) / n_cols)
            panels = tuple(
                Panel(k // n_cols, k % n_cols, tuple(zip(wrap_axes, key, strict=True)))
                for k, key in enumerate(chunk)
            )
            pages.append(Page(page_values, n_rows, n_cols, panels))
    return pages


# --- what each plot shows -----------------------------------------------------------


def _ordered(values: pd.DataFrame, label: str, order: str) -> list[str]:
    return list(values.drop_duplicates(label).sort_values(order, kind="stable")[label])


@dataclass(frozen=True)
class FalseAlarmGrid:
    """Cells of the false-alarm heatmap of one panel.

    Attributes
    ----------
    noise_levels : tuple of str
        Row labels, ascending noise.
    thresholds : tuple of str
        Column labels, ascending threshold setting.
    rate, upper : ndarray of float, shape (n_noise_levels, n_thresholds)
        The healthy rollback rate and the upper end of its 95% interval; NaN where the
        sweep has no point.
    """

    noise_levels: tuple[str, ...]
    thresholds: tuple[str, ...]
    rate: np.ndarray
    upper: np.ndarray


def false_alarm_grid(panel: pd.DataFrame) -> FalseAlarmGrid:
    """Noise level x threshold setting grid of false-alarm rates, from the healthy rows.

    Parameters
    ----------
    panel : DataFrame
        Rows of one panel, from :func:`with_settings`.
    """
    healthy = panel[panel["healthy"].astype(bool)]
    noise_levels = _ordered(healthy, "noise_level", "noise_order")
    thresholds = _ordered(healthy, "threshold_setting", "threshold_order")
    rate = np.full((len(noise_levels), len(thresholds)), np.nan)
    upper = rate.copy()
    row = {name: i for i, name in enumerate(noise_levels)}
    col = {name: j for j, name in enumerate(thresholds)}
    for record in healthy.itertuples(index=False):
        i, j = row[record.noise_level], col[record.threshold_setting]
        rate[i, j] = record.false_alarm_rate
        upper[i, j] = record.false_alarm_rate_hi
    return FalseAlarmGrid(tuple(noise_levels), tuple(thresholds), rate, upper)


@dataclass(frozen=True)
class TradeoffCurve:
    """One line of the trade-off plot: a regression scenario at one noise level.

    Arrays have shape ``(n_thresholds,)``, in ascending threshold order.
    """

    scenario: str
    noise_level: str
    thresholds: tuple[str, ...]
    false_alarm: np.ndarray
    false_alarm_lo: np.ndarray
    false_alarm_hi: np.ndarray
    detection: np.ndarray
    detection_lo: np.ndarray
    detection_hi: np.ndarray


def _lines(frame: pd.DataFrame) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """``(scenario, noise level, rows)`` per line of a plot: scenarios in order, then
    ascending noise; the rows in ascending threshold order."""
    for scenario in scenario_order(frame):
        rows = frame[frame["scenario"] == scenario]
        for noise_level in _ordered(rows, "noise_level", "noise_order"):
            line = rows[rows["noise_level"] == noise_level]
            yield scenario, noise_level, line.sort_values("threshold_order", kind="stable")


def tradeoff_curves(panel: pd.DataFrame) -> list[TradeoffCurve]:
    """Detection against false-alarm rate, one curve per regression scenario and noise level.

    Curves come in scenario order, then ascending noise; points along each curve in
    ascending threshold order.
    """
    curves = []
    for scenario, noise_level, line in _lines(panel[~panel["healthy"].astype(bool)]):
        curves.append(
            TradeoffCurve(
                scenario=scenario,
                noise_level=noise_level,
                thresholds=tuple(line["threshold_setting"]),
                false_alarm=line["false_alarm_rate"].to_numpy(dtype=float),
                false_alarm_lo=line["false_alarm_rate_lo"].to_numpy(dtype=float),
                false_alarm_hi=line["false_alarm_rate_hi"].to_numpy(dtype=float),
                detection=line["detection_rate"].to_numpy(dtype=float),
                detection_lo=line["detection_rate_lo"].to_numpy(dtype=float),
                detection_hi=line["detection_rate_hi"].to_numpy(dtype=float),
            )
        )
    return curves


@dataclass(frozen=True)
class DecisionTimeCurve:
    """One line of the time-to-decision plot: a scenario at one noise level.

    Arrays have shape ``(n_thresholds,)``, in ascending threshold order; the bounds are
    NaN where the sweep gave no interval (fewer than 30 rollouts).
    """

    scenario: str
    noise_level: str
    thresholds: tuple[str, ...]
    mean_steps: np.ndarray
    mean_steps_lo: np.ndarray
    mean_steps_hi: np.ndarray


def decision_time_curves(panel: pd.DataFrame) -> list[DecisionTimeCurve]:
    """Mean steps to a decision against threshold setting, per scenario and noise level.

    Every scenario is drawn, the healthy one included (its decisions are mostly
    completions). Order as in :func:`tradeoff_curves`.
    """
    curves = []
    for scenario, noise_level, line in _lines(panel):
        curves.append(
            DecisionTimeCurve(
                scenario=scenario,
                noise_level=noise_level,
                thresholds=tuple(line["threshold_setting"]),
                mean_steps=line["mean_steps_to_decision"].to_numpy(dtype=float),
                mean_steps_lo=line["mean_steps_to_decision_lo"].to_numpy(dtype=float),
                mean_steps_hi=line["mean_steps_to_decision_hi"].to_numpy(dtype=float),
            )
        )
    return curves


def stage_table(frame: pd.DataFrame, stages: pd.DataFrame, other: Sequence[str]) -> pd.DataFrame:
    """``stages.parquet`` joined with each row's settings, other axes and completed rate.

    Parameters
    ----------
    frame : DataFrame
        The summary from :func:`with_settings`.
    stages : DataFrame
        ``stages.parquet``.
    other : sequence of str
        The other axes (:attr:`AxisRoles.other`), carried over so panels can select.

    Returns
    -------
    DataFrame
        One row per point x scenario x stage, with ``stage_label`` added
        (``"canary-5pct (5%)"``), sorted by point, scenario order and stage index.
    """
    keep = [
        "point",
        "scenario",
        "healthy",
        "threshold_setting",
        "threshold_order",
        "noise_level",
        "noise_order",
        "completed_rate",
        *other,
    ]
    # stages.parquet carries the swept columns itself; older files get them by the join
    keep = ["point", "scenario", *(c for c in keep if c not in stages.columns)]
    table = stages.merge(frame[keep], on=["point", "scenario"], how="inner", validate="m:1")
    order = {name: i for i, name in enumerate(scenario_order(frame))}
    table["scenario_order"] = table["scenario"].map(order)
    table["stage_label"] = [
        f"{name} ({format_value(pct)}%)"
        for name, pct in zip(table["stage"], table["traffic_pct"], strict=True)
    ]
    return table.sort_values(["point", "scenario_order", "stage_index"], kind="stable").reset_index(
        drop=True
    )


@dataclass(frozen=True)
class StageStack:
    """Stacked bars of one scenario at one noise level, one bar per threshold setting.

    Attributes
    ----------
    thresholds : tuple of str
        Bar labels, ascending threshold setting.
    stage_labels : tuple of str
        Segment labels, in stage order (``"canary-5pct (5%)"``).
    fractions : ndarray of float, shape (n_stages, n_thresholds)
        Fraction of all rollouts rolled back at each stage.
    completed : ndarray of float, shape (n_thresholds,)
        Fraction of rollouts that completed.
    """

    thresholds: tuple[str, ...]
    stage_labels: tuple[str, ...]
    fractions: np.ndarray
    completed: np.ndarray


def stage_stack(table: pd.DataFrame) -> StageStack:
    """The bars of one scenario at one noise level (rows of :func:`stage_table`)."""
    thresholds = _ordered(table, "threshold_setting", "threshold_order")
    first = table[table["threshold_setting"] == thresholds[0]].sort_values("stage_index")
    stage_labels = tuple(first["stage_label"])
    fractions = np.full((len(stage_labels), len(thresholds)), np.nan)
    completed = np.full(len(thresholds), np.nan)
    col = {name: j for j, name in enumerate(thresholds)}
    for record in table.itertuples(index=False):
        j = col[record.threshold_setting]
        fractions[record.stage_index, j] = record.rollback_fraction
        completed[j] = record.completed_rate
    return StageStack(tuple(thresholds), stage_labels, fractions, completed)


# --- recommendation -----------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """Detection rate of one regression scenario, with its 95% interval."""

    scenario: str
    rate: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Recommendation:
    """The recommended threshold setting at one noise level (and other-axis values).

    Attributes
    ----------
    values : AxisValues
        The other axes' values this row is for.
    noise_level : str
    threshold_setting : str or None
        The setting with the highest mean detection among those whose false-alarm
        rate's upper 95% bound is at most the target; ``None`` when none is.
    false_alarm, false_alarm_lo, false_alarm_hi : float
        False-alarm rate of the recommended setting or, when none meets the target, of
        the setting with the lowest upper bound (:attr:`closest`).
    detection : tuple of Detection
        Per regression scenario, for the same setting.
    mean_detection : float
        Mean of the detection rates over the regression scenarios.
    n_settings, n_meeting : int
        Settings compared, and how many meet the target.
    closest : str or None
        When none meets the target, the setting with the lowest upper bound.
    edges : tuple of str
        Where the shown setting lies at the edge of the grid: for each threshold axis
        with several values here on which it takes the smallest or the largest,
        ``"smallest <axis>"`` or ``"largest <axis>"``. A better setting may lie beyond.
    """

    values: AxisValues
    noise_level: str
    threshold_setting: str | None
    false_alarm: float
    false_alarm_lo: float
    false_alarm_hi: float
    detection: tuple[Detection, ...]
    mean_detection: float
    n_settings: int
    n_meeting: int
    closest: str | None
    edges: tuple[str, ...] = ()


def grid_edges(level: pd.DataFrame, setting: str, axes: Sequence[str]) -> tuple[str, ...]:
    """The threshold axes on which ``setting`` takes the smallest or largest value of
    ``level`` (rows of one recommendation), for axes with several values there."""
    at = level[level["threshold_setting"] == setting].iloc[0]
    edges = []
    for axis in axes:
        values = level[axis].dropna().unique()
        if len(values) < 2:
            continue
        if at[axis] == values.min():
            edges.append(f"smallest {axis}")
        elif at[axis] == values.max():
            edges.append(f"largest {axis}")
    return tuple(edges)


def recommendations(
    frame: pd.DataFrame, roles: AxisRoles, *, target: float
) -> list[Recommendation]:
    """For each noise level, the best threshold setting that keeps false alarms under target.

    ``tune``'s rule (:func:`canary_mc.tune.pick.pick_setting`): a setting meets the target
    when the upper end of its false-alarm rate's 95% Clopper–Pearson interval is at most
    ``target`` (a point estimate under the target is not enough); among those, the one
    that spends the most of the budget (the highest false-alarm rate, so on common random
    numbers the loosest, with the most detection in every scenario) wins, and detection
    is reported per scenario, not averaged. When none meets it, the setting with the
    lowest upper bound is shown.

    Parameters
    ----------
    frame : DataFrame
        The summary from :func:`with_settings`, with at least one regression scenario.
    roles : AxisRoles
    target : float
        Target false-alarm rate, a fraction in (0, 1).

    Returns
    -------
    list of Recommendation
        One per combination of other-axis values and noise level, in ascending order.
    """
    result = []
    for key in combinations(frame, roles.other):
        values = tuple(zip(roles.other, key, strict=True))
        sub = select(frame, values)
        for noise_level in _ordered(sub, "noise_level", "noise_order"):
            level = sub[sub["noise_level"] == noise_level]
            options = []
            for setting in _ordered(level, "threshold_setting", "threshold_order"):
                rows = level[level["threshold_setting"] == setting]
                healthy = rows[rows["healthy"].astype(bool)].iloc[0]
                regressions = rows[~rows["healthy"].astype(bool)]
                detection = tuple(
                    Detection(
                        r.scenario,
                        float(r.detection_rate),
                        float(r.detection_rate_lo),
                        float(r.detection_rate_hi),
                    )
                    for r in regressions.itertuples(index=False)
                )
                options.append(
                    (
                        setting,
                        float(healthy["false_alarm_rate"]),
                        float(healthy["false_alarm_rate_lo"]),
                        float(healthy["false_alarm_rate_hi"]),
                        detection,
                        float(np.mean([d.rate for d in detection])),
                    )
                )
            # tune's choice rule (canary_mc.tune.pick), so a sweep and `tune` agree.
            pick = pick_setting(
                [
                    Option(o[0], o[1], o[2], o[3], {d.scenario: (d.rate, d.lo, d.hi) for d in o[4]})
                    for o in options
                ],
                budget=target,
            )
            shown = pick.chosen if pick.chosen is not None else pick.closest
            best = next(o for o in options if o[0] == shown.label)
            chosen, closest = (best, None) if pick.chosen is not None else (None, best[0])
            result.append(
                Recommendation(
                    values=values,
                    noise_level=noise_level,
                    threshold_setting=None if chosen is None else chosen[0],
                    false_alarm=best[1],
                    false_alarm_lo=best[2],
                    false_alarm_hi=best[3],
                    detection=best[4],
                    mean_detection=best[5],
                    n_settings=len(options),
                    n_meeting=pick.n_meeting,
                    closest=closest,
                    edges=grid_edges(level, best[0], roles.threshold),
                )
            )
    return result
