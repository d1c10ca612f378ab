"""Terminal output: tables that fit 80 columns without cutting a number, one precision
per estimate, and the counts model's trace with each side's counts."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from conftest import EXPERIMENTS
from rich.console import Console

from canary_mc.cli.render import estimate_tables, trace_table
from canary_mc.engine import run_experiment, trace_rollout
from canary_mc.io.experiment_file import load_experiment
from canary_mc.stats.formatting import estimate_with_interval, rate_with_interval

COUNTS_YAML = """\
name: five-scenarios
seed: 3
rollouts: 2000
policy:
  rule: threshold
  latency_threshold_ms: 60
  no_data: fail
  stages:
    - {name: canary-1pct,       traffic_pct: 1,  duration_steps: 3, error_threshold: 0.02}
    - {name: canary-5pct,       traffic_pct: 5,  duration_steps: 3, error_threshold: 0.015}
    - {name: progressive-50pct, traffic_pct: 50, duration_steps: 3, error_threshold: 0.01}
service: {error_rate: 0.005, latency_ms: 80, requests_per_step: 150, baseline: matched}
noise: {model: counts, latency_log_sigma: 0.6, latency_metric: p95}
scenarios:
  healthy: {}
  error-regression: {error_relative: 2.0}
  latency-regression: {latency_factor: 1.25, onset_stage: canary-5pct}
  tail-latency: {latency_delta_ms: 150, latency_tail_only: true}
  flaky-dependency: {error_delta: 0.03, intermittent_q: 0.4, min_traffic_pct: 25}
"""


@pytest.fixture(scope="module")
def counts_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("render") / "five.yaml"
    path.write_text(COUNTS_YAML, encoding="utf-8")
    return path


def rendered(renderables, width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, legacy_windows=False)
    for renderable in renderables:
        console.print(renderable)
    return out.getvalue()


# --- one precision per estimate ------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "lo", "hi", "expected"),
    [
        # the cell, 0.002% (0.000778–0.00514): width 0.0044 points, 2 digits
        (0.00002, 0.00000778, 0.0000514, "0.0020% (0.0008–0.0051)"),
        (0.19792, 0.19617, 0.19968, "19.79% (19.62–19.97)"),  # width 0.35: 2 decimals
        (0.2, 0.0567, 0.5098, "20% (6–51)"),  # 10 rollouts: width 45 points, none
        (1.0, 0.99991, 1.0, "100.0000% (99.9910–100.0000)"),  # width 0.009 points
        (0.0, 0.0, 0.000096, "0.0000% (0.0000–0.0096)"),  # width 0.0096 points
    ],
)
def test_a_rate_and_its_interval_share_one_precision(rate, lo, hi, expected):
    assert rate_with_interval(rate, lo, hi) == expected


def test_means_follow_the_same_rule():
    assert estimate_with_interval(4.92801, 4.92612, 4.92990) == "4.9280 (4.9261–4.9299)"
    assert estimate_with_interval(1234.5, 1200.25, 1268.75, thousands=True) == (
        "1,234 (1,200–1,269)"
    )
    assert estimate_with_interval(0.0, 0.0, 0.0) == "0 (0–0)"  # every rollout alike
    assert estimate_with_interval(3.5, None, None) == "3.50"


# --- 80 columns ----------------------------------------------------------------------


def _cells_of(estimate) -> list[str]:
    """Every number the run tables show, as written."""
    cells = []
    for s in estimate.scenarios:
        for rate in (s.rollback, s.completed, *(st.rollback_fraction for st in s.stages)):
            cells.append(rate_with_interval(rate.rate, rate.lo, rate.hi))
        cells += [f"{count:,}" for count in s.rollbacks_by_reason.values()]
    return cells


def _assert_whole(text: str, cells: list[str], width: int) -> None:
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    # A cell may wrap at its space, never inside a number: each word appears whole.
    words = set(re.findall(r"\S+", text.replace("│", " ").replace("┃", " ")))
    for cell in cells:
        for word in cell.split():
            assert word in words, (word, cell)


@pytest.mark.parametrize("width", [80, 100, 120])
def test_run_tables_fit_the_width_and_cut_no_number(counts_file, width):
    estimate = run_experiment(load_experiment(counts_file))
    text = rendered(estimate_tables(estimate), width)
    _assert_whole(text, _cells_of(estimate), width)
    for s in estimate.scenarios:  # scenario names are never cut either
        assert s.scenario in text
    if width == 80:  # five scenario columns of stages do not fit: split, and said so
        assert "columns split to fit 80 columns" in text


def test_seed_tables_fit_80_columns():
    estimate = run_experiment(load_experiment(EXPERIMENTS / "seed.yaml"), rollouts=20_000)
    _assert_whole(rendered(estimate_tables(estimate), 80), _cells_of(estimate), 80)


# --- trace under the counts model ----------------------------------------------------


@pytest.mark.parametrize("scenario", ["healthy", "flaky-dependency"])
def test_counts_trace_shows_both_sides_counts_and_baseline_per_step(counts_file, scenario):
    config = load_experiment(counts_file)
    for seed in range(6):
        trace = trace_rollout(config, scenario=scenario, seed=seed)
        for s in trace.snapshots:
            assert s.canary_requests is not None and s.baseline_requests is not None
            if s.canary_requests:
                assert s.canary_error_rate == s.canary_errors / s.canary_requests
            if s.baseline_requests:
                assert s.baseline_error_rate == s.baseline_errors / s.baseline_requests
        text = rendered([trace_table(trace)], 80)
        _assert_whole(text, [], 80)
        flat = " ".join(text.split())
        for s in trace.snapshots:
            for errors, requests in (
                (s.canary_errors, s.canary_requests),
                (s.baseline_errors, s.baseline_requests),
            ):
                assert f"({errors:,}/{requests:,})" in flat
            assert f"{s.baseline_latency_ms:.1f} ms" in flat  # measured at every step
        as_dict = trace.to_dict()["snapshots"][0]
        assert as_dict["canary_requests"] == trace.snapshots[0].canary_requests


def test_gaussian_trace_has_no_counts_and_one_baseline():
    config = load_experiment(EXPERIMENTS / "seed.yaml")
    trace = trace_rollout(config, scenario="healthy", seed=1)
    assert trace.snapshots[0].canary_requests is None
    text = rendered([trace_table(trace)], 80)
    _assert_whole(text, [], 80)
    assert "baseline 0.0100 errors, 100 ms" in " ".join(text.split())
