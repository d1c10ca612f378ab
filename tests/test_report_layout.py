"""How the report lays sweeps out: two threshold axes as a real 2-D heatmap, traffic as
a noise axis, any swept axis for --rows/--cols, lone bars avoided, and no text of any
figure outside it once drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.text import Text
from sweep_files import write_sweep

from canary_mc.report import build_report
from canary_mc.report import report as report_module
from canary_mc.report.data import (
    bar_roles,
    classify_axes,
    false_alarm_grid,
    select,
    tradeoff_curves,
    with_settings,
)
from canary_mc.report.results import read_results

SCALE = "policy.error_threshold_scale"
LATENCY = "policy.latency_threshold_ms"
SIGMA = "noise.error_sigma"
TRAFFIC = "service.requests_per_step"
N = 1000


def two_limits(directory: Path) -> Path:
    """Scale x latency limit x sigma; healthy rollbacks fall with each limit, by hand."""
    return write_sweep(
        directory,
        axes={SCALE: [3, 1, 2], LATENCY: [40, 20], SIGMA: [0.004, 0.002]},
        healthy=lambda at: int(200 // at[SCALE] + 4000 // at[LATENCY] + 10_000 * at[SIGMA]),
        regressions={
            "error-regression": lambda at: 900 - 100 * at[SCALE],
            "latency-regression-with-a-long-name": lambda at: 2000 // at[LATENCY] * 10,
        },
        n=N,
        experiment="two-limits",
    )


@pytest.fixture(scope="module")
def two_dir(tmp_path_factory) -> Path:
    return two_limits(tmp_path_factory.mktemp("two") / "two-limits")


def test_two_threshold_axes_make_a_2d_heatmap_paneled_by_noise(two_dir):
    results = read_results(two_dir)
    roles = classify_axes(results.axes)
    heat = roles.for_heatmap()
    assert (heat.threshold, heat.noise, heat.other) == ((SCALE,), (LATENCY,), (SIGMA,))
    frame = with_settings(results.summary, heat)
    grid = false_alarm_grid(select(frame, [(SIGMA, 0.002)]))
    assert grid.thresholds == ("1", "2", "3") and grid.noise_levels == ("20", "40")
    expected = [
        [(200 // s + 4000 // lat + 20) / N for s in (1, 2, 3)] for lat in (20, 40)
    ]  # fmt: skip
    np.testing.assert_array_equal(grid.rate, expected)


def test_lines_follow_one_threshold_axis_and_panel_the_other(two_dir):
    results = read_results(two_dir)
    lines = classify_axes(results.axes).for_lines()
    assert (lines.threshold, lines.noise, lines.other) == ((SCALE,), (SIGMA,), (LATENCY,))
    frame = with_settings(results.summary, lines)
    curves = tradeoff_curves(select(frame, [(LATENCY, 40)]))
    assert len(curves) == 4  # two regressions x two sigmas, no zigzag through 20/40
    for curve in curves:
        assert curve.thresholds == ("1", "2", "3")
    error = next(c for c in curves if c.scenario == "error-regression")
    np.testing.assert_array_equal(error.detection, [0.8, 0.7, 0.6])


def test_rows_and_cols_take_any_swept_axis(two_dir):
    written = build_report(two_dir, rows=LATENCY, cols=SIGMA)
    assert {p.name for p in written} >= {"false_alarm_heatmap.png", "tradeoff.png", "report.md"}
    roles = classify_axes(read_results(two_dir).axes, layout=(LATENCY, SIGMA))
    assert roles.threshold == (SCALE,) and roles.noise == () and roles.other == (LATENCY, SIGMA)


def test_traffic_is_a_noise_axis_and_gets_bars_not_pages(tmp_path):
    directory = write_sweep(
        tmp_path / "low",
        axes={TRAFFIC: [100, 1000, 10000]},
        healthy=lambda at: 30_000 // at[TRAFFIC],
        regressions={"errors": lambda at: 900},
        n=N,
    )
    results = read_results(directory)
    roles = classify_axes(results.axes)
    assert roles.noise == (TRAFFIC,) and not roles.other
    # no threshold swept: the stage bars run along traffic, in one figure
    bars = bar_roles(results.summary, roles)
    assert bars.threshold == (TRAFFIC,)
    written = build_report(directory)
    assert [p.name for p in written if p.name.startswith("stage")] == ["stage_rollbacks.png"]
    text = (directory / "report.md").read_text()
    assert f"noise level: `{TRAFFIC}` (3 values)" in text


def test_a_zip_of_rules_gets_one_bar_per_rule(tmp_path):
    rules = ['{"kind": "threshold"}', '{"alpha": 0.05, "kind": "ztest"}', '{"kind": "sprt"}']
    directory = write_sweep(
        tmp_path / "rules",
        axes={"policy.rule": rules},
        healthy=lambda at: 50,
        regressions={"errors": lambda at: 900},
        n=N,
    )
    results = read_results(directory)
    roles = classify_axes(results.axes)
    assert bar_roles(results.summary, roles).threshold == ("policy.rule",)
    written = build_report(directory)
    assert [p.name for p in written if p.name.startswith("stage")] == ["stage_rollbacks.png"]
    frame = with_settings(results.summary, bar_roles(results.summary, roles))
    # a rule's kind tells the bars apart; panel titles keep the parameters
    assert sorted(frame["threshold_setting"].unique()) == ["sprt", "threshold", "ztest"]


# --- nothing clipped -----------------------------------------------------------------


def drawn_figures(directory: Path, monkeypatch, **options):
    figures = []
    save = report_module.save_png

    def keep(figure, path):
        figures.append((path.name, figure))
        return save(figure, path)

    monkeypatch.setattr(report_module, "save_png", keep)
    build_report(directory, **options)
    return figures


def _undrawn_tick_labels(figure) -> set[int]:
    """Tick labels matplotlib skips: those of ticks outside their axis's view limits."""
    skipped = set()
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            slack = 1e-9 * max(abs(lo), abs(hi), 1)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - slack <= tick.get_loc() <= hi + slack:
                    skipped |= {id(tick.label1), id(tick.label2)}
    return skipped


def outside(figure) -> list[str]:
    """Texts drawn (visible, non-empty, in view) whose extent leaves the figure."""
    canvas = figure.canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    box = figure.bbox
    skipped = _undrawn_tick_labels(figure)
    bad = []
    for text in figure.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or id(text) in skipped:
            continue
        extent = text.get_window_extent(renderer)
        if (
            extent.x0 < box.x0 - 0.5
            or extent.x1 > box.x1 + 0.5
            or extent.y0 < box.y0 - 0.5
            or extent.y1 > box.y1 + 0.5
        ):
            bad.append(f"{text.get_text()!r} at {extent.bounds}")
    return bad


def long_names(directory: Path) -> Path:
    return write_sweep(
        directory,
        axes={
            SCALE: [1, 2],
            "scenarios.a-regression-whose-name-goes-on-and-on.error_delta": [0.01, 0.02],
        },
        healthy=lambda at: 20,
        regressions={
            f"regression-number-{k}-with-a-long-descriptive-name": (lambda at, k=k: 100 * k)
            for k in range(1, 6)
        },
        n=N,
        experiment="an-experiment-with-a-rather-long-name-to-test-titles",
        config={"noise": {"model": "gaussian", "error_sigma": 0.005, "latency_sigma_ms": 10}},
    )


def rules_zip(directory: Path) -> Path:
    rules = [
        '{"kind": "threshold"}',
        '{"alpha": 0.02559, "correction": "pocock", "kind": "ztest", "scope": "rollout"}',
        '{"confidence": 0.9977, "kind": "mannwhitney", "samples_per_step": 10}',
    ]
    return write_sweep(
        directory,
        axes={"policy.rule": rules, SIGMA: [0.005, 0.01]},
        healthy=lambda at: 50 + rules.index(at["policy.rule"]),
        regressions={f"regression-{k}": (lambda at, k=k: 300 * k) for k in range(1, 4)},
        n=N,
        experiment="rules",
    )


@pytest.mark.parametrize("case", ["two-limits", "long-names", "rows-cols", "rules"])
def test_no_text_falls_outside_any_figure(tmp_path, monkeypatch, case):
    if case == "long-names":
        directory, options = long_names(tmp_path / "long"), {}
    elif case == "rules":
        directory, options = rules_zip(tmp_path / "rules"), {}
    else:
        directory = two_limits(tmp_path / "two")
        options = {"rows": LATENCY, "cols": SIGMA} if case == "rows-cols" else {}
    figures = drawn_figures(directory, monkeypatch, **options)
    assert len(figures) >= 3
    for name, figure in figures:
        assert outside(figure) == [], name


def test_the_tradeoff_legend_stays_small(tmp_path, monkeypatch):
    figures = dict(drawn_figures(two_limits(tmp_path / "two"), monkeypatch))
    figure = figures["tradeoff.png"]
    figure.canvas.draw()
    (legend,) = figure.legends
    height = legend.get_window_extent().height / figure.bbox.height
    # two scenarios + two noise levels + the target: 5 entries, not 2 x 2 + 1 lines
    assert len(legend.get_texts()) == 5
    assert height < 0.15, height
