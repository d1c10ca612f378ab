"""Draw a sweep's plots and write its one-page ``report.md``, from the Parquet files alone."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from canary_mc.errors import ConfigError
from canary_mc.io.atomic import write_text
from canary_mc.report.data import (
    AxisRoles,
    Recommendation,
    bar_roles,
    classify_axes,
    combinations,
    format_interval,
    format_percent,
    format_value,
    plan_pages,
    recommendations,
    stage_table,
    with_settings,
)
from canary_mc.report.html import markdown_to_html
from canary_mc.report.plots import (
    DEFAULT_TARGET,
    axis_title,
    decision_time_figure,
    false_alarm_figure,
    save_png,
    stage_figure,
    tradeoff_figure,
)
from canary_mc.report.results import SweepResults, read_results

PLOTS_DIR = "plots"
REPORT_FILE = "report.md"
HTML_FILE = "report.html"
HEATMAP = "false_alarm_heatmap"
TRADEOFF = "tradeoff"
STAGES = "stage_rollbacks"
DECISION_TIME = "time_to_decision"
PLOT_NAMES = (HEATMAP, TRADEOFF, STAGES, DECISION_TIME)
_OWN_PNG = re.compile(rf"^({'|'.join(PLOT_NAMES)})(-\d+)?\.png$")


def build_report(
    results_dir: Path,
    *,
    target: float = DEFAULT_TARGET,
    rows: str | None = None,
    cols: str | None = None,
    facet: str | None = None,
) -> list[Path]:
    """(Re)draw a sweep's plots into ``<results_dir>/plots/``; write ``report.md`` and
    ``report.html``.

    Reads only ``summary.parquet`` and ``stages.parquet``; the same files give the same
    bytes. PNG files this function wrote earlier are removed first, so a re-run with
    fewer pages leaves none behind; other files in ``plots/`` are left alone.

    Parameters
    ----------
    results_dir : Path
        A sweep's results folder.
    target : float
        Target false-alarm rate as a fraction in (0, 1); 0.01 means 1%.
    rows, cols, facet : str or None
        Other swept axes to lay panels out by (see
        :func:`canary_mc.report.data.plan_pages`).

    Returns
    -------
    list of Path
        The files written: the PNGs in drawing order, then ``report.md`` and
        ``report.html`` (the same report, self-contained: plots inlined, tables sortable).

    Raises
    ------
    ResultsError
        If a Parquet file is missing, unreadable or breaks the sweep contract.
    ConfigError
        If ``target`` is not in (0, 1) or a layout option names an unknown axis.
    """
    if not 0 < target < 1:
        raise ConfigError(
            f"target: must be a false-alarm rate in (0, 1), as a fraction (0.01 is 1%), "
            f"got {target:g}"
        )
    results = read_results(Path(results_dir))
    for option, axis in (("rows", rows), ("cols", cols), ("facet", facet)):
        if axis is not None and axis not in results.axes:
            raise ConfigError(
                f"{option}: {axis!r} is not a swept axis of this sweep; choose from: "
                + (", ".join(results.axes) or "none (nothing was swept)")
            )
    roles = classify_axes(results.axes, layout=(rows, cols, facet))
    frame = with_settings(results.summary, roles)
    layout = {"rows": rows, "cols": cols, "facet": facet}

    # Each kind of plot has its own roles (AxisRoles.for_lines, .for_heatmap): with two
    # threshold axes the heatmap is 2-D and the lines follow one axis, the other paneled.
    def settings(other_roles: AxisRoles) -> pd.DataFrame:
        return frame if other_roles == roles else with_settings(results.summary, other_roles)

    line_roles, heat_roles = roles.for_lines(), roles.for_heatmap()
    line_frame, heat_frame = settings(line_roles), settings(heat_roles)
    line_pages = plan_pages(line_frame, line_roles.other, **layout)
    heat_pages = plan_pages(heat_frame, heat_roles.other, **layout)
    plots_dir = results.directory / PLOTS_DIR
    plots_dir.mkdir(exist_ok=True)
    for old in sorted(plots_dir.iterdir()):
        if _OWN_PNG.match(old.name):
            old.unlink()

    experiment = results.experiment
    fixed = fixed_parameters(results, roles)
    has_regressions = not frame["healthy"].astype(bool).all()
    written: list[Path] = []

    def save_all(name: str, figures: Sequence[Any]) -> list[Path]:
        paths = []
        for k, figure in enumerate(figures):
            stem = name if len(figures) == 1 else f"{name}-{k + 1:02d}"
            paths.append(save_png(figure, plots_dir / f"{stem}.png"))
        written.extend(paths)
        return paths

    common = {"experiment": experiment, "fixed": fixed}
    heatmaps: list[Path] | str
    if heat_roles.threshold or heat_roles.noise:
        heatmaps = save_all(
            HEATMAP,
            [
                false_alarm_figure(heat_frame, p, roles=heat_roles, target=target, **common)
                for p in heat_pages
            ],
        )
    else:
        heatmaps = "Neither a threshold setting nor a noise level was swept: no grid to draw."
    tradeoffs: list[Path] | str
    if not roles.threshold:
        tradeoffs = "No threshold setting was swept, so there is no trade-off to trace."
    elif not has_regressions:
        tradeoffs = "The experiment has no regression scenario, so nothing to detect."
    else:
        tradeoffs = save_all(
            TRADEOFF,
            [
                tradeoff_figure(line_frame, p, roles=line_roles, target=target, **common)
                for p in line_pages
            ],
        )
    stage_roles = bar_roles(results.summary, roles)
    stage_frame = settings(stage_roles)
    table = stage_table(stage_frame, results.stages, stage_roles.other)
    stages = save_all(
        STAGES,
        [
            stage_figure(
                table, tuple(zip(stage_roles.other, key, strict=True)), roles=stage_roles, **common
            )
            for key in combinations(stage_frame, stage_roles.other)
        ],
    )
    decision_times: list[Path] | str
    if roles.threshold:
        decision_times = save_all(
            DECISION_TIME,
            [decision_time_figure(line_frame, p, roles=line_roles, **common) for p in line_pages],
        )
    else:
        decision_times = "No threshold setting was swept, so there is no curve to draw."

    advice = recommendations(frame, roles, target=target) if has_regressions else None
    text = report_markdown(
        results,
        frame,
        roles,
        target=target,
        advice=advice,
        heatmaps=heatmaps,
        tradeoffs=tradeoffs,
        stages=stages,
        decision_times=decision_times,
    )
    report = results.directory / REPORT_FILE
    write_text(report, text)
    page = results.directory / HTML_FILE
    write_text(
        page, markdown_to_html(text, base=results.directory, title=f"{experiment}: sweep report")
    )
    written += [report, page]
    return written


def fixed_parameters(results: SweepResults, roles: AxisRoles) -> str:
    """What every panel shares, for titles: rollouts, seed, and an unswept noise model."""
    parts = []
    n_rollouts = results.summary["n_rollouts"].unique()
    if len(n_rollouts) == 1:
        parts.append(f"{int(n_rollouts[0]):,} rollouts per point")
    seed = results.metadata.get("canary_mc.seed")
    if seed:
        parts.append(f"seed {seed}")
    noise = results.config.get("noise")
    if not roles.noise and isinstance(noise, dict):
        parts.append("noise " + ", ".join(f"{k} {format_value(v)}" for k, v in noise.items()))
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _images(paths: list[Path] | str, alt: str) -> str:
    if isinstance(paths, str):
        return f"_Not drawn._ {paths}\n"
    return "\n".join(f"![{alt}]({PLOTS_DIR}/{p.name})" for p in paths) + "\n"


def recommendation_table(
    advice: list[Recommendation], roles: AxisRoles, scenarios: Sequence[str], target: float
) -> str:
    """The recommendation table, in Markdown."""
    header = [
        *(f"`{a}`" for a in roles.other),
        "noise level: " + (axis_title(roles.noise, "") if roles.noise else "not swept"),
        "threshold setting: "
        + (axis_title(roles.threshold, "") if roles.threshold else "not swept"),
        "false-alarm rate (95% CI)",
        "mean detection",
        *(f"detection: {s} (95% CI)" for s in scenarios),
        f"settings meeting {format_percent(target)}",
    ]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("|" + " --- |" * len(header))
    for row in advice:
        if row.threshold_setting is None:
            choice = (
                f"none meets the target (closest: {row.closest}, "
                f"upper bound {format_percent(row.false_alarm_hi)})"
            )
        else:
            choice = f"**{row.threshold_setting}**"
        if row.edges:
            choice += f" (edge of the grid: {', '.join(f'`{e}`' for e in row.edges)})"
        detection = {d.scenario: format_interval(d.rate, d.lo, d.hi) for d in row.detection}
        cells = [
            *(format_value(v) for _, v in row.values),
            row.noise_level,
            choice,
            format_interval(row.false_alarm, row.false_alarm_lo, row.false_alarm_hi),
            format_percent(row.mean_detection),
            *(detection.get(s, "—") for s in scenarios),
            f"{row.n_meeting} of {row.n_settings}",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _rows_are(roles: AxisRoles) -> str:
    """What one row of the recommendation table stands for, in words."""
    parts = [*(f"`{a}`" for a in roles.other), *(["noise level"] if roles.noise else [])]
    if not parts:
        return "the one noise level"
    return (
        "one per " + " and ".join(parts)
        if len(parts) == 1
        else ("one per combination of " + ", ".join(parts))
    )


def _swept_line(frame: pd.DataFrame, roles: AxisRoles) -> str:
    def describe(axes: tuple[str, ...], role: str) -> str:
        if not axes:
            return f"{role}: not swept"
        return f"{role}: " + ", ".join(f"`{a}` ({frame[a].nunique()} values)" for a in axes)

    return "; ".join(
        [
            describe(roles.threshold, "threshold setting"),
            describe(roles.noise, "noise level"),
            describe(roles.other, "other axes"),
        ]
    )


def report_markdown(
    results: SweepResults,
    frame: pd.DataFrame,
    roles: AxisRoles,
    *,
    target: float,
    advice: list[Recommendation] | None,
    heatmaps: list[Path] | str,
    tradeoffs: list[Path] | str,
    stages: list[Path] | str,
    decision_times: list[Path] | str,
) -> str:
    """The text of ``report.md``: what was swept, the recommendation, then the plots."""
    meta = results.metadata
    healthy = results.healthy_scenario
    regressions = [s for s in results.scenarios if s != healthy]
    n_points = frame["point"].nunique()
    n_rollouts = frame["n_rollouts"].unique()
    rollouts = (
        f"{int(n_rollouts[0]):,} rollouts per point and scenario"
        if len(n_rollouts) == 1
        else "rollouts per point vary (see `summary.parquet`)"
    )
    out = [f"# {results.experiment}: sweep report\n"]
    description = results.config.get("description")
    if isinstance(description, str) and description.strip():
        out.append(" ".join(description.split()) + "\n")
    out.append(
        "\n".join(
            [
                f"- Swept: {_swept_line(frame, roles)}.",
                f"- {n_points} grid points x {len(results.scenarios)} scenarios "
                f"(healthy: `{healthy}`; regressions: "
                f"{', '.join(f'`{s}`' for s in regressions) or 'none'}); {rollouts}"
                + (f"; seed {meta['canary_mc.seed']}" if "canary_mc.seed" in meta else "")
                + ".",
                "- Written by canary-mc "
                + meta.get("canary_mc.version", "(unknown version)")
                + (f" at {meta['canary_mc.created']}" if "canary_mc.created" in meta else "")
                + (
                    f" from `{meta['canary_mc.experiment_path']}`"
                    if "canary_mc.experiment_path" in meta
                    else ""
                )
                + ".",
                "- Rates are shares of rollouts, with 95% Clopper–Pearson intervals (an "
                "adaptive-precision sweep's are at its wider per-look level, which keeps 95% "
                "coverage whatever look it stops at: `docs/tune.md`). The "
                f"false-alarm rate is how often the healthy scenario (`{healthy}`) rolled "
                "back; detection, how often a regression did. Drawn by `canary-mc plot` from "
                "`summary.parquet` and `stages.parquet` alone.",
            ]
        )
        + "\n"
    )

    out.append("## Recommendation\n")
    if advice is None:
        out.append(
            "The experiment has no regression scenario, so there is no detection to trade "
            "false alarms against; the heatmap shows which settings keep false alarms low.\n"
        )
    else:
        n_none = sum(r.threshold_setting is None for r in advice)
        out.append(
            f"Target: a false-alarm rate of at most **{format_percent(target)}** with 95% "
            "confidence, that is, the upper end of the rate's 95% interval is at most "
            f"{format_percent(target)}; a point estimate below it is not enough. For each "
            f"row ({_rows_are(roles)}), the setting that meets the target and spends the "
            "most of it (the highest false-alarm rate: on the same rollouts, the loosest "
            "threshold, which detects the most in every scenario), as `canary-mc tune` "
            "chooses; detection is shown per scenario. When no setting meets it, the row "
            "shows the setting whose upper bound comes closest, with its rates.\n"
        )
        if not roles.threshold:
            out.append(
                "No threshold setting was swept: each row checks the file's one policy "
                "against the target.\n"
            )
        out.append(recommendation_table(advice, roles, regressions, target))
        rows_are = _rows_are(roles)
        if n_none:
            out.append(
                f"\nIn {n_none} of {len(advice)} rows ({rows_are}) no setting meets the "
                "target: loosen the thresholds further, lengthen the stages, or run more "
                "rollouts if the bound is close.\n"
            )
        n_edge = sum(bool(r.edges) for r in advice)
        if n_edge:
            out.append(
                f"\nIn {n_edge} of {len(advice)} rows the setting shown lies at the edge of "
                "the grid: a setting beyond it, not swept, may do better. Extend the sweep "
                "along the axis named to be sure.\n"
            )

    heat = roles.for_heatmap()
    if heat.noise and heat.noise[0] in roles.threshold:
        title, layout = (
            "False alarms by threshold setting",
            f"rows: `{heat.noise[0]}`; columns: `{heat.threshold[0]}`; one panel per "
            + ("noise level" if roles.noise else "value of the other axes"),
        )
    else:
        title, layout = (
            "False alarms by noise level and threshold setting",
            "rows: noise level; columns: threshold setting",
        )
    out.append(f"\n## {title}\n")
    out.append(
        f"The healthy scenario's rollback rate in each cell ({layout}), in bold where "
        "its 95% upper bound is at most "
        f"{format_percent(target)}. The colour scale is logarithmic: pale yellow at 0.1% "
        "and below, orange at 1%, red at 10%, dark red towards 100%; grey cells were not "
        "in the sweep.\n"
    )
    out.append(_images(heatmaps, "False-alarm rate heatmap"))
    out.append("\n## Detection against false alarms\n")
    out.append(
        "One line per regression scenario (colour) and noise level (line style); along a "
        "line the threshold setting rises, labelled at each point. Error bars are 95% "
        "Clopper–Pearson intervals in both directions; the dashed line is the "
        f"{format_percent(target)} target. Up and to the left is better. The false-alarm "
        "axis is linear below 0.1% and logarithmic above.\n"
    )
    out.append(_images(tradeoffs, "Detection against false-alarm rate"))
    out.append("\n## Where rollbacks happen\n")
    out.append(
        "For each scenario (rows) and noise level (columns), the share of all rollouts "
        "rolled back at each stage, stacked in stage order (labelled with the stage's "
        "traffic), one bar per threshold setting; the black diamond is the share that "
        "completed. One figure per combination of the other swept axes.\n"
    )
    out.append(_images(stages, "Rollbacks by stage"))
    out.append("\n## Time to decision\n")
    out.append(
        "Mean number of evaluation steps until a rollout is rolled back or completes, "
        "with 95% intervals; the dotted line is the policy's total number of steps.\n"
    )
    out.append(_images(decision_times, "Mean steps to decision"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))


__all__ = ["build_report", "fixed_parameters", "recommendation_table", "report_markdown"]
