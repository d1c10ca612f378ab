"""The four summary plots, drawn with matplotlib's object API on the Agg canvas.

Each panel function (:func:`false_alarm_heatmap`, :func:`tradeoff_plot`,
:func:`stage_bars`, :func:`decision_time_plot`) takes the rows of one panel, a DataFrame
from :func:`canary_mc.report.data.with_settings`, and an optional ``ax``; it draws and
returns the Figure. The ``*_figure`` functions lay the panels of one
:class:`~canary_mc.report.data.Page` out in a grid. Nothing here touches pyplot, so no
figure outlives its caller and nothing is ever shown; :func:`save_png` writes the same
bytes for the same data.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter

from canary_mc.io.atomic import atomic_path
from canary_mc.report.data import (
    AxisRoles,
    Page,
    Panel,
    decision_time_curves,
    false_alarm_grid,
    format_percent,
    format_values,
    scenario_order,
    select,
    stage_stack,
    tradeoff_curves,
)

DEFAULT_TARGET = 0.01
"""Target false-alarm rate marked on the plots (1%)."""

DPI = 100
"""Pixels per inch of the PNG files: at 100% zoom one figure inch is 100 pixels."""

HEATMAP_FLOOR = 1e-3
"""Lowest rate the heatmap's colour scale resolves (0.1%); lower rates share its colour."""

# A log scale over 0.1%-100% puts 1% and 10% a third of the map apart: pale yellow
# against orange, and 10% against dark red at 100%.
HEATMAP_CMAP = matplotlib.colormaps["YlOrRd"].with_extremes(bad="#d9d9d9")
SCENARIO_COLORS = matplotlib.colormaps["tab10"].colors
NOISE_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"))

# Fixed sizes, so a figure looks the same whatever matplotlibrc the user has.
RC = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "figure.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

# Keys in the units table are matched against the end of a path's last part.
UNITS = (
    ("threshold_scale", "× stage thresholds"),
    ("_ms", "ms"),
    ("_pct", "% of traffic"),
    ("_steps", "steps"),
    ("_per_step", "per step"),
    ("error_threshold", "fraction of requests"),
    ("error_sigma", "fraction of requests"),
    ("error_rate", "fraction of requests"),
    ("error_delta", "fraction of requests"),
    ("rollouts", "rollouts"),
)

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def plot_style() -> Iterator[None]:
    """matplotlib's defaults plus :data:`RC`, whatever the user's matplotlibrc says."""
    with matplotlib.style.context("default"), matplotlib.rc_context(RC):
        yield


def styled(function: F) -> F:
    """Run ``function`` under :func:`plot_style` (artists read rcParams when made)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with plot_style():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def axis_unit(path: str) -> str | None:
    """The unit of a swept dotted path, from its last part; ``None`` when unknown."""
    last = path.rsplit(".", 1)[-1]
    if last == "rollouts":
        return "rollouts"
    return next((unit for end, unit in UNITS if last.endswith(end)), None)


def axis_title(axes: Sequence[str], role: str, *, wrap: bool = False) -> str:
    """Label of a settings axis: its paths and units, or that it was not swept.

    ``wrap`` puts each unit on a line of its own (for a vertical axis).
    """
    if not axes:
        return f"{role}{chr(10) if wrap else ' '}(not swept)"
    parts = []
    for path in axes:
        unit = axis_unit(path)
        parts.append(f"{path}{chr(10) if wrap else ' '}({unit})" if unit else path)
    return " / ".join(parts)


def new_figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas, outside pyplot's registry."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _own_axes(ax: Axes | None, width: float, height: float) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(root=True), ax
    figure = new_figure(width, height)
    return figure, figure.add_subplot()


PERCENT = FuncFormatter(lambda value, _pos: format_percent(value))


def _threshold_ticks(ax: Axes, labels: Sequence[str]) -> None:
    ax.set_xticks(np.arange(len(labels)))
    rotation = 30 if max((len(s) for s in labels), default=0) > 6 else 0
    ax.set_xticklabels(labels, rotation=rotation, ha="right" if rotation else "center")


def _noise_style(index: int) -> tuple[Any, str]:
    return NOISE_STYLES[index % len(NOISE_STYLES)]


def _scenario_color(frame: pd.DataFrame, scenario: str) -> Any:
    return SCENARIO_COLORS[scenario_order(frame).index(scenario) % len(SCENARIO_COLORS)]


def _curve_label(scenario: str, noise_level: str, roles: AxisRoles) -> str:
    if not roles.noise:
        return scenario
    return f"{scenario}, {' / '.join(roles.noise)} = {noise_level}"


Entries = list[tuple[Any, str]]
"""Legend entries: ``(handle, label)`` pairs."""


def line_legend(frame: pd.DataFrame, roles: AxisRoles, *, healthy: bool) -> Entries:
    """Legend entries of the line plots: one per scenario (its colour) and, when several,
    one per noise level (its line style and marker), so the legend grows with scenarios
    plus levels, not with their product."""
    rows = frame if healthy else frame[~frame["healthy"].astype(bool)]
    entries: Entries = [
        (Line2D([], [], color=_scenario_color(frame, name), linewidth=2), name)
        for name in scenario_order(rows)
    ]
    levels = list(rows.drop_duplicates("noise_level").sort_values("noise_order")["noise_level"])
    if len(levels) > 1:
        for index, level in enumerate(levels):
            linestyle, marker = _noise_style(index)
            handle = Line2D([], [], color="0.3", linestyle=linestyle, marker=marker, markersize=4)
            entries.append((handle, f"{' / '.join(roles.noise)} = {level}"))
    return entries


def _label_points(ax: Axes, points: list[tuple[float, float, str]], fontsize: float = 7) -> None:
    """Label points beside them, skipping any label that would overlap one already placed
    or leave the axes (in display coordinates, once the limits are final)."""
    placed: list[tuple[float, float, float, float]] = []
    box = ax.get_window_extent()
    pixels = fontsize * DPI / 72
    for x, y, text in points:
        px, py = ax.transData.transform((x, y))
        left, top = px + 3, py - 9 * DPI / 72
        width, height = 0.62 * pixels * len(text), pixels
        rect = (left, top - height, left + width, top)
        inside = box.x0 <= rect[0] and rect[2] <= box.x1 and box.y0 <= rect[1] and rect[3] <= box.y1
        clear = all(
            rect[2] < r[0] or r[2] < rect[0] or rect[3] < r[1] or r[3] < rect[1] for r in placed
        )
        if inside and clear:
            placed.append(rect)
            ax.annotate(text, (x, y), xytext=(3, -9), textcoords="offset points", fontsize=fontsize)


# --- 1. false-alarm heatmap ---------------------------------------------------------


@styled
def false_alarm_heatmap(
    panel: pd.DataFrame,
    *,
    roles: AxisRoles,
    target: float = DEFAULT_TARGET,
    ax: Axes | None = None,
    title: str | None = None,
    colorbar: bool = True,
) -> Figure:
    """Healthy rollback rate per noise level (rows) and threshold setting (columns).

    Each cell is annotated with the rate in percent, in bold when the upper end of its
    95% interval is below ``target``. Colours follow a log scale from 0.1% to 100%.

    Parameters
    ----------
    panel : DataFrame
        Rows of one panel, from :func:`~canary_mc.report.data.with_settings`.
    roles : AxisRoles
        Names the axes for the labels.
    target : float
        Target false-alarm rate (fraction), marked on the colour bar.
    ax : Axes, optional
        Where to draw; a new figure when omitted.
    title : str, optional
    colorbar : bool
        Draw a colour bar beside ``ax``.

    Returns
    -------
    Figure
    """
    grid = false_alarm_grid(panel)
    n_rows, n_cols = grid.rate.shape
    figure, ax = _own_axes(ax, 1.6 + 0.8 * n_cols, 1.4 + 0.45 * n_rows)
    norm = LogNorm(vmin=HEATMAP_FLOOR, vmax=1.0)
    image = ax.imshow(
        np.clip(grid.rate, HEATMAP_FLOOR, 1.0),
        cmap=HEATMAP_CMAP,
        norm=norm,
        origin="lower",
        aspect="auto",
        interpolation="nearest",
    )
    for i in range(n_rows):
        for j in range(n_cols):
            rate = grid.rate[i, j]
            if np.isnan(rate):
                continue
            dark = norm(max(rate, HEATMAP_FLOOR)) > 0.55
            ax.text(
                j,
                i,
                format_percent(rate),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
                fontweight="bold" if grid.upper[i, j] <= target else "normal",
            )
    _threshold_ticks(ax, grid.thresholds)
    ax.set_yticks(np.arange(n_rows))
    ax.set_yticklabels(grid.noise_levels)
    ax.set_xlabel(axis_title(roles.threshold, "threshold setting"))
    ax.set_ylabel(axis_title(roles.noise, "noise level", wrap=True))
    ax.spines[:].set_visible(False)
    if title:
        ax.set_title(title)
    if colorbar:
        add_false_alarm_colorbar(figure, image, [ax], target)
    return figure


def add_false_alarm_colorbar(figure: Figure, image: Any, axes: list[Axes], target: float) -> None:
    """The heatmap's colour bar, in percent, with the target marked."""
    bar = figure.colorbar(image, ax=axes, extend="min", shrink=0.9)
    bar.ax.yaxis.set_major_locator(FixedLocator([1e-3, 1e-2, 1e-1, 1.0]))
    bar.ax.yaxis.set_minor_locator(FixedLocator([]))
    bar.ax.yaxis.set_major_formatter(PERCENT)
    bar.ax.axhline(target, color="black", linewidth=2)
    bar.set_label(f"false-alarm rate\n(line: target {format_percent(target)})")


# --- 2. trade-off curves ------------------------------------------------------------


@styled
def tradeoff_plot(
    panel: pd.DataFrame,
    *,
    roles: AxisRoles,
    target: float = DEFAULT_TARGET,
    ax: Axes | None = None,
    title: str | None = None,
    legend: bool = True,
) -> Figure:
    """Detection rate against false-alarm rate as the threshold setting varies.

    One line per regression scenario (colour) and noise level (line style), points in
    ascending threshold order, labelled with the setting; 95% Clopper–Pearson intervals as error
    bars in both directions; a dashed line at ``target``. The false-alarm axis is linear
    up to 0.1% and logarithmic above, so 1% and 10% are both legible.

    Parameters
    ----------
    panel : DataFrame
        Rows of one panel, from :func:`~canary_mc.report.data.with_settings`.
    roles : AxisRoles
    target : float
        Target false-alarm rate (fraction).
    ax : Axes, optional
    title : str, optional
    legend : bool
        Draw a legend inside ``ax``.

    Returns
    -------
    Figure
    """
    figure, ax = _own_axes(ax, 6.4, 4.4)
    curves = tradeoff_curves(panel)
    noise_levels = list(dict.fromkeys(c.noise_level for c in curves))
    for curve in curves:
        linestyle, marker = _noise_style(noise_levels.index(curve.noise_level))
        ax.errorbar(
            curve.false_alarm,
            curve.detection,
            xerr=[
                curve.false_alarm - curve.false_alarm_lo,
                curve.false_alarm_hi - curve.false_alarm,
            ],
            yerr=[curve.detection - curve.detection_lo, curve.detection_hi - curve.detection],
            color=_scenario_color(panel, curve.scenario),
            linestyle=linestyle,
            marker=marker,
            markersize=4,
            linewidth=1.2,
            elinewidth=0.8,
            capsize=2,
            label=_curve_label(curve.scenario, curve.noise_level, roles),
        )
    ax.axvline(target, color="0.25", linestyle="--", linewidth=1, label=_target_entry(target)[1])
    ax.set_xscale("symlog", linthresh=HEATMAP_FLOOR, linscale=0.5)
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_formatter(PERCENT)
    ax.yaxis.set_major_formatter(PERCENT)
    ax.set_xlabel("false-alarm rate (healthy rollouts rolled back, %)")
    ax.set_ylabel("detection rate (regressed rollouts rolled back, %)")
    ax.grid(True, which="major", color="0.9", linewidth=0.6)
    if len(curves) <= 4:  # label the settings along each line, where there is room
        _label_points(
            ax,
            [
                (x, y, setting)
                for curve in curves
                for x, y, setting in zip(
                    curve.false_alarm, curve.detection, curve.thresholds, strict=True
                )
            ],
        )
    if title:
        ax.set_title(title)
    if legend:
        entries = [*line_legend(panel, roles, healthy=False), _target_entry(target)]
        ax.legend(*zip(*entries, strict=True), loc="lower right")
    return figure


def _target_entry(target: float) -> tuple[Any, str]:
    handle = Line2D([], [], color="0.25", linestyle="--", linewidth=1)
    return handle, f"target false-alarm rate {format_percent(target)}"


# --- 3. where rollbacks happen ------------------------------------------------------


@styled
def stage_bars(
    table: pd.DataFrame,
    *,
    roles: AxisRoles,
    ax: Axes | None = None,
    title: str | None = None,
    legend: bool = True,
) -> Figure:
    """Rollback fraction per stage, stacked, one bar per threshold setting.

    The stack's height is the rollback rate; a black diamond marks the fraction of
    rollouts that completed (the rest of the bar's 100%).

    Parameters
    ----------
    table : DataFrame
        Rows of :func:`~canary_mc.report.data.stage_table` for one scenario and one
        noise level.
    roles : AxisRoles
    ax : Axes, optional
    title : str, optional
    legend : bool

    Returns
    -------
    Figure
    """
    stack = stage_stack(table)
    n_stages, n_bars = stack.fractions.shape
    figure, ax = _own_axes(ax, 1.8 + 0.6 * n_bars, 3.4)
    x = np.arange(n_bars)
    bottom = np.zeros(n_bars)
    colours = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, max(n_stages, 2)))
    for k, label in enumerate(stack.stage_labels):
        heights = np.nan_to_num(stack.fractions[k])
        ax.bar(x, heights, bottom=bottom, width=0.7, color=colours[k], label=label)
        bottom += heights
    ax.plot(
        x,
        stack.completed,
        linestyle="none",
        marker="D",
        markersize=5,
        color="black",
        label="completed (no rollback)",
    )
    _threshold_ticks(ax, stack.thresholds)
    ax.set_xlim(-0.8, n_bars - 0.2)  # a lone bar stays a bar, not a wall
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PERCENT)
    ax.set_xlabel(axis_title(roles.threshold, "threshold setting", wrap=True))
    ax.set_ylabel("share of rollouts (%)")
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


# --- 4. time to decision ------------------------------------------------------------


@styled
def decision_time_plot(
    panel: pd.DataFrame,
    *,
    roles: AxisRoles,
    ax: Axes | None = None,
    title: str | None = None,
    legend: bool = True,
) -> Figure:
    """Mean steps to a decision (rollback or completion) against threshold setting.

    One line per scenario (colour) and noise level (line style), with 95% intervals
    where the sweep gave them; a dotted line at the policy's total steps when every
    point of the panel has the same.

    Parameters
    ----------
    panel : DataFrame
        Rows of one panel, from :func:`~canary_mc.report.data.with_settings`.
    roles : AxisRoles
    ax : Axes, optional
    title : str, optional
    legend : bool

    Returns
    -------
    Figure
    """
    figure, ax = _own_axes(ax, 6.4, 4.0)
    curves = decision_time_curves(panel)
    thresholds = list(
        panel.drop_duplicates("threshold_setting").sort_values("threshold_order")[
            "threshold_setting"
        ]
    )
    noise_levels = list(dict.fromkeys(c.noise_level for c in curves))
    for curve in curves:
        linestyle, marker = _noise_style(noise_levels.index(curve.noise_level))
        x = np.array([thresholds.index(t) for t in curve.thresholds], dtype=float)
        yerr = np.nan_to_num(
            [curve.mean_steps - curve.mean_steps_lo, curve.mean_steps_hi - curve.mean_steps]
        )
        ax.errorbar(
            x,
            curve.mean_steps,
            yerr=yerr,
            color=_scenario_color(panel, curve.scenario),
            linestyle=linestyle,
            marker=marker,
            markersize=4,
            linewidth=1.2,
            elinewidth=0.8,
            capsize=2,
            label=_curve_label(curve.scenario, curve.noise_level, roles),
        )
    steps = panel["n_steps"].unique()
    if len(steps) == 1:
        ax.axhline(
            float(steps[0]),
            color="0.4",
            linestyle=":",
            linewidth=1,
            label=_steps_entry(panel)[0][1],
        )
    _threshold_ticks(ax, thresholds)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(axis_title(roles.threshold, "threshold setting"))
    ax.set_ylabel("mean steps to decision (steps)")
    ax.grid(True, axis="y", color="0.9", linewidth=0.6)
    if title:
        ax.set_title(title)
    if legend:
        entries = line_legend(panel, roles, healthy=True) + _steps_entry(panel)
        ax.legend(*zip(*entries, strict=True), loc="best")
    return figure


def _steps_entry(frame: pd.DataFrame) -> Entries:
    steps = frame["n_steps"].unique()
    if len(steps) != 1:
        return []
    handle = Line2D([], [], color="0.4", linestyle=":", linewidth=1)
    return [(handle, f"all {int(steps[0])} steps (every rollout completes)")]


# --- figures of panels --------------------------------------------------------------


def _suptitle(experiment: str, what: str, fixed: str) -> str:
    return f"{experiment}: {what}" + (f"\n{fixed}" if fixed else "")


CHAR_WIDTH_EM = 0.62
"""Upper estimate of DejaVu Sans' mean character width, in ems: titles wrap to fit."""


def wrap_text(text: str, width_inches: float, fontsize: float) -> str:
    """``text`` with each line wrapped at spaces to fit ``width_inches`` at ``fontsize``."""
    chars = max(10, int(width_inches * 72 / (CHAR_WIDTH_EM * fontsize)))
    return "\n".join(
        "\n".join(textwrap.wrap(line, chars, break_on_hyphens=False) or [""])
        for line in text.split("\n")
    )


def _titles(figure: Figure, grid: np.ndarray, suptitle: str) -> None:
    """The figure's title and each panel's, wrapped to their widths."""
    size = matplotlib.rcParams["figure.titlesize"]
    figure.suptitle(wrap_text(suptitle, figure.get_figwidth() - 0.2, size))
    panel_width = figure.get_figwidth() / grid.shape[1]
    for ax in grid.flat:
        title = ax.get_title()
        if title:
            ax.set_title(wrap_text(title, panel_width - 0.3, matplotlib.rcParams["axes.titlesize"]))


def _page_fixed(page: Page, fixed: str) -> str:
    return "; ".join(s for s in (format_values(page.values), fixed) if s)


MIN_FIGURE_WIDTH = 7.0
"""Inches; wide enough for a two-line title and a legend row at 100% zoom."""


def _panel_grid(page: Page, width: float, height: float) -> tuple[Figure, np.ndarray]:
    figure = new_figure(max(MIN_FIGURE_WIDTH, width * page.n_cols), height * page.n_rows)
    grid = figure.subplots(page.n_rows, page.n_cols, squeeze=False)
    used = {(p.row, p.col) for p in page.panels}
    for (i, j), ax in np.ndenumerate(grid):
        if (i, j) not in used:
            ax.set_axis_off()
    return figure, grid


def _outer_labels(page: Page, grid: np.ndarray) -> None:
    """Axis labels once per figure edge: x on each column's lowest panel, y on column 0."""
    lowest = {}
    for panel in page.panels:
        lowest[panel.col] = max(lowest.get(panel.col, 0), panel.row)
    for panel in page.panels:
        ax = grid[panel.row, panel.col]
        if panel.row != lowest[panel.col]:
            ax.set_xlabel("")
        if panel.col != 0:
            ax.set_ylabel("")


def _shared_legend(figure: Figure, grid: np.ndarray, entries: Entries | None = None) -> None:
    """One legend below the panels, in as many columns as fit the figure's width;
    ``entries`` default to the labelled artists of the panel with the most."""
    if entries is None:
        best = max(grid.flat, key=lambda a: len(a.get_legend_handles_labels()[1]))
        entries = list(zip(*best.get_legend_handles_labels(), strict=True))
    if entries:
        handles, labels = zip(*entries, strict=True)
        fontsize = matplotlib.rcParams["legend.fontsize"]
        longest = max(len(label) for label in labels) * CHAR_WIDTH_EM * fontsize / 72 + 0.5
        per_row = max(1, int((figure.get_figwidth() - 0.2) / longest))
        rows = math.ceil(len(handles) / per_row)
        # the legend gets its own room below the panels rather than squeezing them
        figure.set_figheight(figure.get_figheight() + 0.2 + rows * fontsize * 1.6 / 72)
        figure.legend(handles, labels, loc="outside lower center", ncols=min(per_row, len(handles)))


@styled
def false_alarm_figure(
    frame: pd.DataFrame,
    page: Page,
    *,
    roles: AxisRoles,
    experiment: str,
    fixed: str = "",
    target: float = DEFAULT_TARGET,
) -> Figure:
    """The heatmaps of one page, with one shared colour bar.

    Parameters
    ----------
    frame : DataFrame
        The whole summary, from :func:`~canary_mc.report.data.with_settings`.
    page : Page
        Which panels, and where.
    roles : AxisRoles
    experiment : str
        Named in the title.
    fixed : str
        Parameters held fixed on every panel (rollouts, seed), for the title.
    target : float

    Returns
    -------
    Figure
    """
    n_thresholds = frame["threshold_setting"].nunique()
    n_noise = frame["noise_level"].nunique()
    figure, grid = _panel_grid(page, 2.4 + 0.8 * n_thresholds, max(2.4, 1.6 + 0.45 * n_noise))
    for panel in page.panels:
        false_alarm_heatmap(
            select(frame, page.values + panel.values),
            roles=roles,
            target=target,
            ax=grid[panel.row, panel.col],
            title=format_values(panel.values) or None,
            colorbar=False,
        )
    _outer_labels(page, grid)
    images = [ax.images[0] for ax in grid.flat if ax.images]
    add_false_alarm_colorbar(figure, images[0], list(grid.flat), target)
    _titles(
        figure,
        grid,
        _suptitle(
            experiment,
            "false-alarm rate (healthy rollouts rolled back)\n"
            f"bold: the 95% upper bound is at most the {format_percent(target)} target",
            _page_fixed(page, fixed),
        ),
    )
    return figure


@styled
def tradeoff_figure(
    frame: pd.DataFrame,
    page: Page,
    *,
    roles: AxisRoles,
    experiment: str,
    fixed: str = "",
    target: float = DEFAULT_TARGET,
) -> Figure:
    """The trade-off curves of one page, with one shared legend (arguments as above)."""
    figure, grid = _panel_grid(page, 5.2, 3.9)
    for panel in page.panels:
        tradeoff_plot(
            select(frame, page.values + panel.values),
            roles=roles,
            target=target,
            ax=grid[panel.row, panel.col],
            title=format_values(panel.values) or None,
            legend=False,
        )
    _outer_labels(page, grid)
    page_rows = select(frame, page.values)
    _shared_legend(
        figure, grid, [*line_legend(page_rows, roles, healthy=False), _target_entry(target)]
    )
    _titles(
        figure,
        grid,
        _suptitle(
            experiment,
            "detection against false alarms as the threshold varies (95% intervals)",
            _page_fixed(page, fixed),
        ),
    )
    return figure


@styled
def decision_time_figure(
    frame: pd.DataFrame,
    page: Page,
    *,
    roles: AxisRoles,
    experiment: str,
    fixed: str = "",
) -> Figure:
    """The time-to-decision plots of one page, with one shared legend."""
    figure, grid = _panel_grid(page, 5.2, 3.6)
    for panel in page.panels:
        decision_time_plot(
            select(frame, page.values + panel.values),
            roles=roles,
            ax=grid[panel.row, panel.col],
            title=format_values(panel.values) or None,
            legend=False,
        )
    _outer_labels(page, grid)
    page_rows = select(frame, page.values)
    _shared_legend(
        figure, grid, [*line_legend(page_rows, roles, healthy=True), *_steps_entry(page_rows)]
    )
    _titles(
        figure,
        grid,
        _suptitle(experiment, "mean steps to a decision (95% intervals)", _page_fixed(page, fixed)),
    )
    return figure


@styled
def stage_figure(
    table: pd.DataFrame,
    values: tuple[tuple[str, Any], ...],
    *,
    roles: AxisRoles,
    experiment: str,
    fixed: str = "",
) -> Figure:
    """Where rollbacks happen: one panel per scenario (rows) and noise level (columns).

    Parameters
    ----------
    table : DataFrame
        :func:`~canary_mc.report.data.stage_table` rows.
    values : AxisValues
        Other-axis values of this figure (every other axis is fixed here).
    roles : AxisRoles
    experiment, fixed : str
        For the title.

    Returns
    -------
    Figure
    """
    table = select(table, values)
    scenarios = list(table.drop_duplicates("scenario").sort_values("scenario_order")["scenario"])
    noise_levels = list(
        table.drop_duplicates("noise_level").sort_values("noise_order")["noise_level"]
    )
    n_bars = table["threshold_setting"].nunique()
    if len(noise_levels) > 1:
        places = {
            (s, n): (i, j) for i, s in enumerate(scenarios) for j, n in enumerate(noise_levels)
        }
        n_rows, n_cols = len(scenarios), len(noise_levels)
    else:  # one column of scenarios would be tall and narrow: wrap them
        n_cols = 1 if len(scenarios) <= 2 else min(3, math.ceil(math.sqrt(len(scenarios))))
        places = {(s, noise_levels[0]): divmod(k, n_cols) for k, s in enumerate(scenarios)}
        n_rows = math.ceil(len(scenarios) / n_cols)
    page = Page(values, n_rows, n_cols, tuple(Panel(i, j, ()) for i, j in places.values()))
    figure, grid = _panel_grid(page, max(3.4, 1.6 + 0.55 * n_bars), 2.9 + 0.1 * n_bars)
    for (scenario, noise_level), (i, j) in places.items():
        cell = table[(table["scenario"] == scenario) & (table["noise_level"] == noise_level)]
        title = _curve_label(scenario, noise_level, roles).replace(", ", "\n", 1)
        stage_bars(cell, roles=roles, ax=grid[i, j], title=title, legend=False)
    _outer_labels(page, grid)
    _shared_legend(figure, grid)
    _titles(
        figure,
        grid,
        _suptitle(
            experiment,
            "where rollbacks happen: share of rollouts rolled back at each stage",
            _page_fixed(page, fixed),
        ),
    )
    return figure


def save_png(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG whose bytes depend only on what it shows.

    The PNG's ``Software`` text chunk (matplotlib's version) is left out; Agg writes no
    date, so the same figure gives the same file on every run.
    """
    with plot_style(), atomic_path(path) as tmp:  # a full disk leaves no 0-byte PNG
        figure.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return path
