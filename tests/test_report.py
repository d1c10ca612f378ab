"""Plots and report.md: the data behind each plot, the recommendation, files and the CLI.

Every expected number below is a count written in this file divided by n = 1000; the
Wilson bounds come from scipy (tests/sweep_files.py), never from canary-mc.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from sweep_files import stage_split, wilson, write_sweep
from typer.testing import CliRunner

from canary_mc.cli.app import app
from canary_mc.errors import ConfigError, ResultsError
from canary_mc.report import build_report
from canary_mc.report.data import (
    classify_axes,
    decision_time_curves,
    false_alarm_grid,
    plan_pages,
    recommendations,
    select,
    stage_stack,
    stage_table,
    tradeoff_curves,
    with_settings,
)
from canary_mc.report.plots import (
    decision_time_plot,
    false_alarm_heatmap,
    stage_bars,
    tradeoff_plot,
)
from canary_mc.report.results import read_results

N = 1000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCALE = "policy.error_threshold_scale"
SIGMA = "noise.error_sigma"
RATE = "service.error_rate"

# Healthy and error-regression rollbacks out of 1000, by (service rate, sigma), for
# threshold scales (0.5, 1, 2). The file lists the scales as [2, 0.5, 1] and sigmas as
# [0.004, 0.002], so the plots must sort them.
HEALTHY = {
    (0.01, 0.002): [5, 2, 0],
    (0.01, 0.004): [40, 15, 8],
    (0.02, 0.002): [1, 0, 0],
    (0.02, 0.004): [60, 30, 3],
}
ERROR = {
    (0.01, 0.002): [990, 900, 600],
    (0.01, 0.004): [995, 950, 800],
    (0.02, 0.002): [800, 800, 700],
    (0.02, 0.004): [999, 950, 650],
}
LATENCY = {
    (0.01, 0.002): [500, 500, 500],
    (0.01, 0.004): [500, 500, 500],
    (0.02, 0.002): [500, 400, 700],
    (0.02, 0.004): [500, 500, 500],
}
SCALES = (0.5, 1, 2)


def _lookup(table):
    return lambda at: table[(at[RATE], at[SIGMA])][SCALES.index(at[SCALE])]


def write_grid(directory: Path) -> Path:
    return write_sweep(
        directory,
        axes={SCALE: [2, 0.5, 1], SIGMA: [0.004, 0.002], RATE: [0.01, 0.02]},
        healthy=_lookup(HEALTHY),
        regressions={"error-regression": _lookup(ERROR), "latency-regression": _lookup(LATENCY)},
        n=N,
        experiment="grid",
    )


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory) -> Path:
    return write_grid(tmp_path_factory.mktemp("sweep") / "grid")


@pytest.fixture(scope="module")
def grid(grid_dir):
    results = read_results(grid_dir)
    roles = classify_axes(results.axes)
    return results, roles, with_settings(results.summary, roles)


def test_axes_are_classified_by_path():
    roles = classify_axes(
        [
            "rollouts",
            "noise.error_sigma",
            "policy.stages.canary-5pct.error_threshold",
            "policy.latency_threshold_ms",
            "policy.stages.canary-5pct.duration_steps",
            "scenarios.error-regression.error_delta",
            "noise.latency_sigma_ms",
        ]
    )
    assert roles.threshold == (
        "policy.stages.canary-5pct.error_threshold",
        "policy.latency_threshold_ms",
    )
    assert roles.noise == ("noise.error_sigma", "noise.latency_sigma_ms")
    assert roles.other == (
        "rollouts",
        "policy.stages.canary-5pct.duration_steps",
        "scenarios.error-regression.error_delta",
    )


# --- the data behind each plot ------------------------------------------------------


@pytest.mark.parametrize("rate", [0.01, 0.02])
def test_heatmap_cells_are_the_healthy_rates_sorted_by_noise_and_threshold(grid, rate):
    _, roles, frame = grid
    cells = false_alarm_grid(select(frame, [(RATE, rate)]))
    assert cells.noise_levels == ("0.002", "0.004")
    assert cells.thresholds == ("0.5", "1", "2")
    expected = np.array([HEALTHY[(rate, 0.002)], HEALTHY[(rate, 0.004)]]) / N
    np.testing.assert_array_equal(cells.rate, expected)
    upper = [[wilson(k, N)[1] for k in HEALTHY[(rate, s)]] for s in (0.002, 0.004)]
    np.testing.assert_allclose(cells.upper, upper, rtol=1e-12)

    figure = false_alarm_heatmap(select(frame, [(RATE, rate)]), roles=roles, target=0.01)
    ax = figure.axes[0]
    shown = ax.images[0].get_array()
    np.testing.assert_array_equal(shown, np.clip(expected, 1e-3, 1))
    texts = {(t.get_position(), t.get_text(), t.get_fontweight()) for t in ax.texts}
    for i, sigma in enumerate((0.002, 0.004)):
        for j, k in enumerate(HEALTHY[(rate, sigma)]):
            text = f"{100 * k / N:.2g}%" if k else "0%"
            bold = "bold" if wilson(k, N)[1] < 0.01 else "normal"
            assert ((j, i), text, bold) in texts
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "1", "2"]


def test_heatmap_leaves_missing_cells_empty(tmp_path):
    # A zip of threshold and noise: only the diagonal exists.
    d = write_sweep(
        tmp_path / "zip",
        axes={SCALE: [1, 2], SIGMA: [0.002, 0.004]},
        healthy=lambda at: 10 if at[SCALE] == at[SIGMA] * 500 else 20,
        regressions={},
    )
    results = read_results(d)
    roles = classify_axes(results.axes)
    frame = with_settings(results.summary, roles)
    frame = frame[frame[SCALE] == frame[SIGMA] * 500]
    cells = false_alarm_grid(frame)
    np.testing.assert_array_equal(cells.rate, [[0.01, np.nan], [np.nan, 0.01]])


def test_tradeoff_curves_are_sorted_by_threshold(grid):
    _, roles, frame = grid
    panel = select(frame, [(RATE, 0.01)])
    curves = tradeoff_curves(panel)
    assert [(c.scenario, c.noise_level) for c in curves] == [
        ("error-regression", "0.002"),
        ("error-regression", "0.004"),
        ("latency-regression", "0.002"),
        ("latency-regression", "0.004"),
    ]
    for curve in curves:
        sigma = float(curve.noise_level)
        table = ERROR if curve.scenario == "error-regression" else LATENCY
        assert curve.thresholds == ("0.5", "1", "2")
        np.testing.assert_array_equal(curve.false_alarm, np.array(HEALTHY[(0.01, sigma)]) / N)
        np.testing.assert_array_equal(curve.detection, np.array(table[(0.01, sigma)]) / N)
        np.testing.assert_allclose(
            curve.detection_hi, [wilson(k, N)[1] for k in table[(0.01, sigma)]], rtol=1e-12
        )

    figure = tradeoff_plot(panel, roles=roles, target=0.02)
    ax = figure.axes[0]
    drawn = {c.get_label(): c for c in ax.containers}
    line = drawn[f"error-regression, {SIGMA} = 0.004"]
    np.testing.assert_array_equal(line.lines[0].get_xdata(), np.array([40, 15, 8]) / N)
    np.testing.assert_array_equal(line.lines[0].get_ydata(), np.array([995, 950, 800]) / N)
    assert line.has_xerr and line.has_yerr
    target = [x for x in ax.get_lines() if x.get_label().startswith("target")]
    assert target and list(target[0].get_xdata()) == [0.02, 0.02]
    assert "target false-alarm rate 2%" in [t.get_text() for t in ax.get_legend().texts]


def test_stage_bars_show_each_stage_and_the_completed_share(grid):
    results, roles, frame = grid
    table = stage_table(frame, results.stages, roles.other)
    cell = table[
        (table["scenario"] == "error-regression")
        & (table["noise_level"] == "0.004")
        & (table[RATE] == 0.02)
    ]
    stack = stage_stack(cell)
    counts = ERROR[(0.02, 0.004)]
    assert stack.thresholds == ("0.5", "1", "2")
    assert stack.stage_labels == ("canary-5pct (5%)", "full-100pct (100%)")
    np.testing.assert_array_equal(stack.fractions, np.array([stage_split(k) for k in counts]).T / N)
    np.testing.assert_allclose(stack.completed, 1 - np.array(counts) / N, rtol=1e-12)

    ax = stage_bars(cell, roles=roles).axes[0]
    first, second = ax.containers
    assert [b.get_height() for b in first] == [k // 3 / N for k in counts]
    assert [b.get_y() for b in second] == [k // 3 / N for k in counts]
    marker = next(x for x in ax.get_lines() if x.get_label() == "completed (no rollback)")
    np.testing.assert_allclose(marker.get_ydata(), 1 - np.array(counts) / N, rtol=1e-12)


def test_decision_time_curves(grid):
    _, roles, frame = grid
    panel = select(frame, [(RATE, 0.01)])
    curves = decision_time_curves(panel)
    assert [c.scenario for c in curves][::2] == [
        "healthy",
        "error-regression",
        "latency-regression",
    ]
    healthy = curves[1]  # healthy at sigma 0.004
    assert healthy.thresholds == ("0.5", "1", "2")
    # Rolled back in stage 0 after 1 step, everything else decided after 2 steps.
    expected = [(k // 3 + 2 * (N - k // 3)) / N for k in HEALTHY[(0.01, 0.004)]]
    np.testing.assert_allclose(healthy.mean_steps, expected, rtol=1e-12)
    ax = decision_time_plot(panel, roles=roles).axes[0]
    drawn = {c.get_label(): c.lines[0] for c in ax.containers}
    np.testing.assert_allclose(drawn[f"healthy, {SIGMA} = 0.004"].get_ydata(), expected, rtol=1e-12)


def test_panel_functions_draw_into_a_given_axes(grid):
    _, roles, frame = grid
    from canary_mc.report.plots import new_figure

    figure = new_figure(6, 4)
    ax = figure.add_subplot()
    assert tradeoff_plot(select(frame, [(RATE, 0.01)]), roles=roles, ax=ax) is figure


# --- the recommendation -------------------------------------------------------------


def test_recommendation_uses_the_upper_bound_and_spends_the_budget(grid):
    _, roles, frame = grid
    # Why, by hand: 5/1000 = 0.5% is below 1% but its upper bound is not.
    assert 5 / N < 0.01 < wilson(5, N)[1]
    assert wilson(2, N)[1] < 0.01 and wilson(3, N)[1] < 0.01 < wilson(8, N)[1]
    advice = {(r.values, r.noise_level): r for r in recommendations(frame, roles, target=0.01)}
    assert len(advice) == 4

    # tune's rule: among settings whose upper bound is within the budget, the one that
    # spends the most of it (the highest false-alarm rate). 0.5 (5/1000) fails on its
    # bound; 1 (2/1000) spends more than 2 (0/1000). Detection stays per scenario.
    row = advice[(((RATE, 0.01),), "0.002")]
    assert (row.threshold_setting, row.n_meeting, row.n_settings) == ("1", 2, 3)
    assert row.false_alarm == 2 / N and row.false_alarm_hi == pytest.approx(wilson(2, N)[1])
    assert [(d.scenario, d.rate) for d in row.detection] == [
        ("error-regression", 0.9),
        ("latency-regression", 0.5),
    ]
    # No setting's bound is below 1% (8/1000 is the lowest, at 2).
    row = advice[(((RATE, 0.01),), "0.004")]
    assert row.threshold_setting is None and row.n_meeting == 0
    assert row.closest == "2" and row.false_alarm == 8 / N
    # All three meet it (1, 0 and 0 of 1000): 0.5 spends the most, whatever the mean of
    # its detection rates (65%, against 60% and 70%): the rule never averages scenarios.
    row = advice[(((RATE, 0.02),), "0.002")]
    assert (row.threshold_setting, row.false_alarm, row.n_meeting) == ("0.5", 1 / N, 3)
    # Only 2 (3/1000) meets it.
    row = advice[(((RATE, 0.02),), "0.004")]
    assert (row.threshold_setting, row.n_meeting) == ("2", 1)


def test_recommendation_ties_go_to_the_lower_bound_then_the_first_setting(tmp_path):
    d = write_sweep(
        tmp_path / "tie",
        axes={SCALE: [3, 1, 2]},
        healthy=lambda at: {1: 1, 2: 1, 3: 0}[at[SCALE]],
        regressions={"error-regression": lambda at: 700},
    )
    results = read_results(d)
    roles = classify_axes(results.axes)
    (row,) = recommendations(with_settings(results.summary, roles), roles, target=0.01)
    # 1 and 2 spend the same budget (1/1000) with the same bound; the first in the
    # grid's ascending order wins. 3 (0/1000) spends less.
    assert row.noise_level == "as in the file"
    assert row.threshold_setting == "1"


def test_report_md_states_the_recommendation(grid_dir):
    build_report(grid_dir, target=0.01)
    text = (grid_dir / "report.md").read_text()
    lines = [x for x in text.splitlines() if x.startswith("| 0.0")]
    # 2 of 1,000: 0.2%, Wilson 0.055%-0.73%, written to the interval's precision
    assert lines[0].startswith("| 0.01 | 0.002 | **1** | 0.20% (0.05–0.73) |")
    # 8 of 1,000 at scale 2: Wilson upper bound 1.57%
    edge = "(edge of the grid: `largest policy.error_threshold_scale`)"
    assert lines[1].startswith(
        f"| 0.01 | 0.004 | none meets the target (closest: 2, upper bound 1.6%) {edge} |"
    )
    assert lines[1].endswith("| 0 of 3 |")
    # (0.02, 0.002): 1, 0 and 0 of 1,000 at scales 0.5, 1, 2: 0.5 spends the most budget
    smallest = "(edge of the grid: `smallest policy.error_threshold_scale`)"
    assert lines[2].startswith(f"| 0.02 | 0.002 | **0.5** {smallest} | 0.10% (0.02–0.56) |")
    assert lines[3].startswith(f"| 0.02 | 0.004 | **2** {edge} |")
    assert "edge" not in lines[0]  # scale 1 lies inside the grid
    rows_are = "one per combination of `service.error_rate`, noise level"
    assert f"In 1 of 4 rows ({rows_are}) no setting meets the target" in text
    assert "In 3 of 4 rows the setting shown lies at the edge of the grid" in text
    for name in ("false_alarm_heatmap", "tradeoff", "stage_rollbacks-01", "time_to_decision"):
        assert f"(plots/{name}.png)" in text


# --- files --------------------------------------------------------------------------


def test_files_are_png_and_byte_identical_for_the_same_parquet(tmp_path):
    first = build_report(write_grid(tmp_path / "a" / "grid"))
    again = build_report(tmp_path / "a" / "grid")
    other = build_report(write_grid(tmp_path / "b" / "grid"))
    names = [p.name for p in first]
    assert names == [
        "false_alarm_heatmap.png",
        "tradeoff.png",
        "stage_rollbacks-01.png",
        "stage_rollbacks-02.png",
        "time_to_decision.png",
        "report.md",
        "report.html",
    ]
    assert [p.name for p in other] == names and [p.name for p in again] == names
    for a, b, c in zip(first, again, other, strict=True):
        assert a.read_bytes() == b.read_bytes() == c.read_bytes(), a.name
    for path in first[:-2]:
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE
        assert b"Software" not in data and b"matplotlib" not in data


def test_redrawing_removes_its_own_stale_pages_only(tmp_path):
    d = write_grid(tmp_path / "grid")
    (d / "plots").mkdir()
    (d / "plots" / "tradeoff-07.png").write_bytes(PNG_SIGNATURE)
    (d / "plots" / "mine.png").write_bytes(PNG_SIGNATURE)
    build_report(d)
    names = sorted(p.name for p in (d / "plots").iterdir())
    assert "tradeoff-07.png" not in names and "mine.png" in names


def test_sweeps_without_noise_or_threshold_axes_get_fewer_plots(tmp_path):
    no_threshold = write_sweep(
        tmp_path / "noise-only",
        axes={SIGMA: [0.002, 0.004]},
        healthy=lambda at: 5,
        regressions={"error-regression": lambda at: 900},
        config={"name": "noise-only", "description": "Only noise varies."},
    )
    names = [p.name for p in build_report(no_threshold)]
    assert names == ["false_alarm_heatmap.png", "stage_rollbacks.png", "report.md", "report.html"]
    text = (no_threshold / "report.md").read_text()
    assert "Only noise varies." in text
    assert "No threshold setting was swept, so there is no trade-off" in text
    assert "each row checks the file's one policy" in text

    healthy_only = write_sweep(
        tmp_path / "healthy-only",
        axes={SCALE: [1, 2]},
        healthy=lambda at: 5,
        regressions={},
        config={"name": "h", "noise": {"model": "gaussian", "error_sigma": 0.005}},
    )
    names = [p.name for p in build_report(healthy_only)]
    assert "tradeoff.png" not in names and "false_alarm_heatmap.png" in names
    text = (healthy_only / "report.md").read_text()
    assert "no regression scenario" in text


def test_drawing_never_loads_pyplot(grid_dir, tmp_path):
    code = (
        "import sys; from canary_mc.report import build_report; "
        f"build_report({str(grid_dir)!r}); "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


# --- layout -------------------------------------------------------------------------


def _layout_frame() -> pd.DataFrame:
    rows = [{"a": a, "b": b, "c": c} for a in range(13) for b in ("x", "y") for c in (1.5, 2.5)]
    return pd.DataFrame(rows)


def test_pages_wrap_panels_and_split_beyond_the_limit():
    frame = _layout_frame()
    pages = plan_pages(frame, ("a", "b", "c"), max_panels=12)
    assert [len(p.panels) for p in pages] == [12] * 4 + [4]
    assert (pages[0].n_rows, pages[0].n_cols) == (3, 4)
    assert pages[0].panels[0].values == (("a", 0), ("b", "x"), ("c", 1.5))
    assert pages[-1].panels[-1].values == (("a", 12), ("b", "y"), ("c", 2.5))


def test_rows_cols_and_facet_choose_the_layout():
    frame = _layout_frame()
    pages = plan_pages(frame, ("a", "b", "c"), rows="b", cols="c")
    assert len(pages) == 13 and pages[3].values == (("a", 3),)
    assert (pages[3].n_rows, pages[3].n_cols) == (2, 2)
    assert pages[3].panels[1] == type(pages[3].panels[1])(0, 1, (("b", "x"), ("c", 2.5)))
    pages = plan_pages(frame, ("a", "b", "c"), facet="b")
    # 26 combinations of a and c per value of b: pages of 12, 12 and 2 panels.
    assert [p.values for p in pages] == [(("b", "x"),)] * 3 + [(("b", "y"),)] * 3
    assert [len(p.panels) for p in pages] == [12, 12, 2] * 2
    with pytest.raises(ConfigError, match=r"rows: 'noise\.error_sigma' is not a swept axis"):
        plan_pages(frame, ("a", "b", "c"), rows="noise.error_sigma")
    with pytest.raises(ConfigError, match="must name different axes"):
        plan_pages(frame, ("a", "b", "c"), rows="a", facet="a")


def test_build_report_passes_the_layout_on(tmp_path):
    d = write_sweep(
        tmp_path / "layout",
        axes={SCALE: [1, 2], RATE: [0.01, 0.02], "rollouts": [100, 200]},
        healthy=lambda at: 5,
        regressions={"error-regression": lambda at: 900},
    )
    names = [p.name for p in build_report(d, facet="rollouts")]
    heatmaps = [n for n in names if n.startswith("false_alarm_heatmap")]
    assert heatmaps == ["false_alarm_heatmap-01.png", "false_alarm_heatmap-02.png"]
    assert sum(n.startswith("stage_rollbacks-") for n in names) == 4


# --- errors and the CLI -------------------------------------------------------------

runner = CliRunner()


def test_plot_without_parquet_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'summary.parquet'}: no such file" in result.stderr
    assert "canary-mc sweep" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(app, ["plot", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_plot_on_broken_files_and_bad_options(grid_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.parquet").write_text("not parquet")
    (broken / "stages.parquet").write_text("not parquet")
    result = runner.invoke(app, ["plot", str(broken)])
    assert result.exit_code == 2 and "not a readable Parquet file" in result.stderr
    with pytest.raises(ResultsError, match="no such file"):
        build_report(tmp_path)
    result = runner.invoke(app, ["plot", str(grid_dir), "--target", "5"])
    assert result.exit_code == 2
    assert "target: must be a false-alarm rate in (0, 1)" in result.stderr
    result = runner.invoke(app, ["plot", str(grid_dir), "--rows", "rollouts"])
    assert (
        result.exit_code == 2
        and (
            "rows: 'rollouts' is not a swept axis of this sweep; choose from: "
            "policy.error_threshold_scale, noise.error_sigma, service.error_rate"
        )
        in result.stderr
    )


def test_plot_missing_column_names_it(tmp_path):
    d = write_grid(tmp_path / "grid")
    frame = pd.read_parquet(d / "summary.parquet").drop(columns=["false_alarm_rate_hi"])
    frame.to_parquet(d / "summary.parquet")
    with pytest.raises(ResultsError, match="missing columns false_alarm_rate_hi"):
        build_report(d)


def test_plot_command_writes_and_lists_the_files(grid_dir):
    result = runner.invoke(app, ["plot", str(grid_dir), "--target", "0.05"])
    assert result.exit_code == 0, result.output
    listed = result.stdout.split()
    assert listed[-2:] == [str(grid_dir / "report.md"), str(grid_dir / "report.html")]
    assert all(Path(p).is_file() for p in listed)
    assert "at most **5%**" in (grid_dir / "report.md").read_text()


def test_docs_describe_every_plot():
    text = (ROOT / "docs" / "plots.md").read_text()
    for name in ("false_alarm_heatmap", "tradeoff", "stage_rollbacks", "time_to_decision"):
        assert name in text


# --- end to end: a real sweep, then `plot` ---------------------------------------------

SWEEP_YAML = """\
name: tiny
seed: 11
rollouts: 400
policy:
  rule: threshold
  latency_threshold_ms: 50
  error_threshold_scale: 1.0
  stages:
    - {name: canary-5pct, traffic_pct: 5, duration_steps: 2, error_threshold: 0.01}
    - {name: full-100pct, traffic_pct: 100, duration_steps: 1, error_threshold: 0.01}
service: {error_rate: 0.01, latency_ms: 100}
noise: {model: gaussian, error_sigma: 0.004, latency_sigma_ms: 10}
scenarios:
  healthy: {}
  error-regression: {error_delta: 0.01}
sweep:
  grid:
    policy.error_threshold_scale: [2, 1]
    noise.error_sigma: [0.004, 0.008]
"""


def test_end_to_end_a_real_sweep_then_plot(tmp_path):
    from canary_mc.io.experiment_file import load_sweep_file
    from canary_mc.sweep.executors import SerialExecutor
    from canary_mc.sweep.runner import plan_sweep, run_sweep

    experiment = tmp_path / "tiny.yaml"
    experiment.write_text(SWEEP_YAML)
    plan = plan_sweep(load_sweep_file(experiment))
    result = run_sweep(plan, tmp_path / "results", executor=SerialExecutor())
    outcome = runner.invoke(app, ["plot", str(result.directory)])
    assert outcome.exit_code == 0, outcome.output
    names = sorted(Path(p).name for p in outcome.stdout.split())
    assert names == [
        "false_alarm_heatmap.png",
        "report.html",
        "report.md",
        "stage_rollbacks.png",
        "time_to_decision.png",
        "tradeoff.png",
    ]
    summary = pd.read_parquet(result.summary)
    healthy = summary[summary["healthy"]]
    results = read_results(result.directory)
    roles = classify_axes(results.axes)
    assert roles.threshold == (SCALE,) and roles.noise == (SIGMA,) and roles.other == ()
    cells = false_alarm_grid(with_settings(results.summary, roles))
    assert cells.thresholds == ("1", "2") and cells.noise_levels == ("0.004", "0.008")
    for i, sigma in enumerate((0.004, 0.008)):
        for j, scale in enumerate((1, 2)):
            row = healthy[(healthy[SCALE] == scale) & (healthy[SIGMA] == sigma)]
            assert cells.rate[i, j] == row["rollbacks"].item() / 400
    text = (result.directory / "report.md").read_text()
    assert text.startswith("# tiny: sweep report")
    assert "![False-alarm rate heatmap](plots/false_alarm_heatmap.png)" in text
