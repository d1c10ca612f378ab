"""tune, adaptive precision and the calibrated z-test, against closed forms and theory."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats
from typer.testing import CliRunner

from canary_mc.cli.app import app
from canary_mc.engine.simulate import run_experiment, tally_experiment
from canary_mc.io.experiment_file import load_experiment, load_sweep_file, parse_experiment
from canary_mc.stats.intervals import clopper_pearson_interval
from canary_mc.tune import tune_file
from canary_mc.tune.calibrate import calibrate_experiment
from canary_mc.tune.precision import (
    first_precise_look,
    look_confidence,
    look_schedule,
    run_to_precision,
)

ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = ROOT / "experiments" / "seed.yaml"
SEED_LIMITS = np.array([0.02, 0.015, 0.01, 0.01, 0.005])


def seed_false_alarm(scale: float) -> float:
    """Closed form: seed.yaml's healthy rollback rate at an error-threshold scale
    (one N(0, 0.005^2) error delta and one N(0, 10^2) latency delta per stage)."""
    keep = np.prod(stats.norm.cdf(scale * SEED_LIMITS / 0.005)) * stats.norm.cdf(5.0) ** 5
    return float(1 - keep)


# --- adaptive precision ---------------------------------------------------------------------


def test_look_schedule_doubles_whole_blocks_and_ends_at_the_cap():
    assert look_schedule(20_000) == (4096, 8192, 16384, 20000)
    assert look_schedule(4096) == (4096,)
    assert look_schedule(100) == (100,)
    assert look_confidence(10) == pytest.approx(0.995)


@pytest.mark.parametrize("p", [0.01, 0.2, 0.5])
def test_stopping_rule_keeps_95_percent_coverage(p):
    """The rule stops on data-dependent widths; its Bonferroni-over-looks intervals must
    still cover the true p at least 95% of the time (binomial sequences, 4,000 runs;
    tolerance 3 SE of a 95% coverage)."""
    rng = np.random.default_rng(20261129)
    looks = look_schedule(65_536, first=512)
    confidence = look_confidence(len(looks))
    precision = 0.01
    runs = 4000
    covered = 0
    used = set()
    for _ in range(runs):
        draws = rng.random(looks[-1]) < p
        counts = np.cumsum(draws)

        def width(n: int, counts: np.ndarray = counts) -> float:
            lo, hi = clopper_pearson_interval(int(counts[n - 1]), n, confidence)
            return float(hi - lo) / 2

        n, _ = first_precise_look(looks, width, precision)
        used.add(n)
        lo, hi = clopper_pearson_interval(int(counts[n - 1]), n, confidence)
        covered += bool(lo <= p <= hi)
    se = math.sqrt(0.95 * 0.05 / runs)
    assert covered / runs >= 0.95 - 3 * se
    assert used  # the rule stopped somewhere on the schedule


def test_adaptive_run_is_reproducible_and_precise_and_covers_the_closed_form():
    experiment = load_experiment(SEED_FILE)
    a = run_to_precision(experiment, precision=0.004, max_rollouts=200_000)
    b = run_to_precision(experiment, precision=0.004, max_rollouts=200_000, chunk_rollouts=4096)
    assert a.n_rollouts == b.n_rollouts and a.estimate == b.estimate
    assert a.reached and a.half_width <= 0.004
    assert a.n_rollouts in a.looks
    fa = a.estimate.false_alarm
    assert fa.lo <= seed_false_alarm(1.0) <= fa.hi
    # The same rollouts as a fixed run of that many.
    fixed = tally_experiment(experiment, rollouts=a.n_rollouts)
    assert fixed[experiment.healthy_scenario].rollbacks == fa.events


def test_adaptive_run_engine_coverage_over_seeds():
    """Coverage of the reported false-alarm interval on the engine, over 200 seeds,
    against the closed form (at least 95% - 3 SE)."""
    experiment = load_experiment(SEED_FILE)
    truth = seed_false_alarm(1.0)
    runs, covered = 200, 0
    for seed in range(runs):
        run = run_to_precision(experiment, precision=0.02, max_rollouts=16_384, seed=seed)
        fa = run.estimate.false_alarm
        covered += fa.lo <= truth <= fa.hi
    assert covered / runs >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / runs)


# --- tune -----------------------------------------------------------------------------------


def test_one_knob_interval_contains_the_closed_form_crossing():
    """The knob value where the true false-alarm rate equals the budget (closed form,
    scipy root) lies in the reported interval, and the chosen value's true rate is
    within the budget."""
    budget = 0.01
    run = tune_file(load_sweep_file(SEED_FILE), budget=budget, rollouts=100_000)
    best = run.result.best
    assert best is not None and best.estimate.false_alarm.hi <= budget
    scale = best.values["policy.error_threshold_scale"]
    true_scale = optimize.brentq(lambda s: seed_false_alarm(s) - budget, 0.5, 10)
    lo, hi = best.crossing.interval
    assert lo <= true_scale <= hi
    assert scale == hi  # the conservative end: larger scale, fewer false alarms
    # Truth within budget, allowing the grid's last step (about 0.1% of the scale).
    assert seed_false_alarm(scale * 0.999) <= budget


DISCRETE = """
name: fl
seed: 1
rollouts: 16384
policy:
  rule: {kind: failure_limit, failure_limit: 0, scope: rollout}
  latency_threshold_ms: 1000
  stages:
    - {name: a, traffic_pct: 5, duration_steps: 5, error_threshold: 0.005}
    - {name: b, traffic_pct: 50, duration_steps: 5, error_threshold: 0.005}
service: {error_rate: 0.01, latency_ms: 100}
noise: {model: gaussian, error_sigma: 0.005, latency_sigma_ms: 10}
scenarios:
  healthy: {}
  err: {error_delta: 0.005}
"""


def test_discrete_knob_is_searched_exactly_against_the_binomial(tmp_path):
    """failure_limit L fires when more than L of 10 steps exceed the limit: the false-
    alarm rate is P(Bin(10, p) > L), p = P(Z > 1). The tuned L is the smallest whose
    upper bound is within budget, and the closed form agrees within 4 SE."""
    path = tmp_path / "fl.yaml"
    path.write_text(DISCRETE)
    budget = 0.05
    run = tune_file(
        load_sweep_file(path), budget=budget, knob_specs=["policy.rule.failure_limit=0:6"]
    )
    best = run.result.best
    limit = best.values["policy.rule.failure_limit"]
    p = stats.norm.sf(1.0)
    truth = stats.binom.sf(limit, 10, p)
    fa = best.estimate.false_alarm
    assert abs(fa.rate - truth) <= 4 * math.sqrt(truth * (1 - truth) / fa.n)
    # One less would be over budget by the closed form's standard (loosest that fits).
    assert stats.binom.sf(limit - 1, 10, p) > budget


def test_budget_that_cannot_be_met_says_what_would(tmp_path):
    path = tmp_path / "fl.yaml"
    path.write_text(DISCRETE)
    result = CliRunner().invoke(
        app,
        [
            "tune",
            str(path),
            "--knob",
            "policy.rule.failure_limit=0:1",
            "--false-alarm",
            "0.001",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "cannot be met" in result.output
    assert "twice the bake time" in result.output and "msprt" in result.output


def test_cli_tune_writes_tuned_file_and_plot(tmp_path):
    out, png = tmp_path / "tuned.yaml", tmp_path / "t.png"
    result = CliRunner().invoke(
        app,
        ["tune", str(SEED_FILE), "--rollouts", "20000", "-o", str(out), "--plot", str(png)],
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# Tuned by canary-mc")
    tuned = parse_experiment(text)
    assert tuned.sweep is None
    assert "knob interval at the budget" in text
    assert f"error_threshold_scale: {tuned.policy.error_threshold_scale:g}" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_knob_is_a_located_user_error():
    result = CliRunner().invoke(app, ["tune", str(SEED_FILE), "--knob", "policy.nope"])
    assert result.exit_code == 2
    assert "knob policy.nope" in result.output


SEVERAL = """
name: two
seed: 5
rollouts: 8192
policy:
  rule: threshold
  latency_threshold_ms: 1000
  stages:
    - {name: a, traffic_pct: 5, duration_steps: 2, error_threshold: 0.01}
    - {name: b, traffic_pct: 50, duration_steps: 2, error_threshold: 0.01}
service: {error_rate: 0.01, latency_ms: 100}
noise: {model: gaussian, error_sigma: 0.005, latency_sigma_ms: 10}
scenarios:
  healthy: {}
  late: {error_delta: 0.004, onset_stage: b}
"""


def test_several_knobs_beat_or_match_single_scale_with_paired_interval(tmp_path):
    """A fault only in stage b: loosening a and tightening b must help. The reported
    numbers are on confirmation rollouts; the gain's interval excludes 0 here."""
    path = tmp_path / "two.yaml"
    path.write_text(SEVERAL)
    run = tune_file(
        load_sweep_file(path),
        budget=0.02,
        knob_specs=["policy.stages.a.error_threshold", "policy.stages.b.error_threshold"],
    )
    result = run.result
    assert result.best.estimate.false_alarm.hi <= 0.02 + 0.01  # fresh rollouts: near budget
    _, lo, _ = result.improvement
    assert lo > 0
    values = result.best.values
    assert values["policy.stages.a.error_threshold"] > values["policy.stages.b.error_threshold"]


# --- calibrated z-test ----------------------------------------------------------------------

CALIBRATED = """
name: cal
seed: 3
rollouts: 20000
policy:
  rule: {kind: ztest, alpha: 0.05, correction: calibrated, scope: rollout}
  metrics:
    - {name: errors, kind: error_rate, compare: delta}
  stages:
    - {name: c1, traffic_pct: 1, duration_steps: 5}
    - {name: c5, traffic_pct: 5, duration_steps: 5}
    - {name: c25, traffic_pct: 25, duration_steps: 5}
    - {name: c50, traffic_pct: 50, duration_steps: 5}
service: {error_rate: 0.01, latency_ms: 100, requests_per_step: 2000}
noise: {model: counts, latency_log_sigma: 0.5}
scenarios:
  healthy: {}
"""


def test_calibrated_ztest_size_is_alpha_on_a_counts_plan():
    """1/5/25/50% of 2,000 requests a step: the calibrated rule's size on fresh rollouts
    (not the calibration's) is alpha within 4 SE; Pocock's constant misses it."""
    experiment = calibrate_experiment(parse_experiment(CALIBRATED), rollouts=40_000)
    c = experiment.policy.rule.critical_value
    assert c is not None
    fa = run_experiment(experiment).false_alarm
    se = math.sqrt(0.05 * 0.95 / fa.n)
    assert abs(fa.rate - 0.05) <= 4 * se
    rule = experiment.policy.rule.model_copy(update={"correction": "pocock"})
    pocock = experiment.model_copy(
        update={"policy": experiment.policy.model_copy(update={"rule": rule})}
    )
    assert abs(run_experiment(pocock).false_alarm.rate - 0.05) > 4 * se


# --- the recommendation's pick (item 5) ---------------------------------------------------


def _option(label, fa, hi, det):
    from canary_mc.tune.pick import Option

    return Option(label, fa, fa / 2, hi, {"a": (det, det - 0.01, det + 0.01), "b": (1 - det, 0, 1)})


def test_pick_spends_the_budget_and_flags_the_grids_edges():
    from canary_mc.tune.pick import pick_setting

    grid = [_option("x1", 0.001, 0.002, 0.2), _option("x2", 0.008, 0.0095, 0.5)]
    pick = pick_setting(grid, budget=0.01)
    assert pick.chosen.label == "x2" and pick.edge == "loose"
    assert "looser" in pick.advice()
    grid.append(_option("x3", 0.02, 0.03, 0.9))
    pick = pick_setting(grid, budget=0.01)
    assert pick.chosen.label == "x2" and pick.edge is None and pick.advice() is None
    none = pick_setting(grid, budget=0.001)
    assert none.chosen is None and none.closest.label == "x1" and none.edge == "strict"
    # Weights: b is best detected by the strictest setting.
    weighted = pick_setting(grid, budget=0.01, weights={"b": 1.0})
    assert weighted.chosen.label == "x1" and weighted.objective == pytest.approx(0.8)


ABSOLUTE = """
name: abs
seed: 4
rollouts: 4096
policy:
  rule: threshold
  interval: 1m
  metrics:
    - {name: errors, kind: error_rate, compare: absolute, max: 0.02}
  stages:
    - {name: w10, traffic_pct: 10, duration_steps: 3}
    - {name: w50, traffic_pct: 50, duration_steps: 3}
service: {error_rate: 0.01, latency_ms: 100, requests_per_step: 2000}
noise: {model: counts, latency_log_sigma: 0.5}
scenarios:
  healthy: {}
  errors-up: {error_delta: 0.01}
"""


def test_cli_tune_exports_the_tuned_policy(tmp_path):
    """--export writes the manifest of the tuned file (issue 14's exporter), with the
    tuned limit in Argo's success condition."""
    path, out = tmp_path / "abs.yaml", tmp_path / "tuned.yaml"
    path.write_text(ABSOLUTE)
    result = CliRunner().invoke(app, ["tune", str(path), "-o", str(out), "--export", "argo"])
    assert result.exit_code == 0, result.output
    tuned = parse_experiment(out.read_text())
    limit = tuned.policy.metrics[0].max
    assert limit != 0.02
    manifest = (tmp_path / "tuned.argo.yaml").read_text()
    assert f"<= {limit:g}" in manifest
    refused = CliRunner().invoke(app, ["tune", str(path), "--export", "argo"])
    assert refused.exit_code == 2 and "-o" in refused.output


def test_sweep_precision_stops_each_point_by_the_same_rule(tmp_path):
    """sweep --precision: each point's rollouts and counts are those of the adaptive
    rule run on that point alone, for any worker count; intervals are per-look level."""
    import pandas as pd

    from canary_mc.engine.adaptive import tally_to_precision
    from canary_mc.sweep.runner import plan_sweep

    path = tmp_path / "grid.yaml"
    path.write_text(
        SEED_FILE.read_text() + "sweep:\n  grid:\n    policy.error_threshold_scale: [1.0, 2.0]\n"
    )
    frames = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        result = CliRunner().invoke(
            app,
            [
                "sweep",
                str(path),
                "--out",
                str(out),
                "--precision",
                "0.01",
                "--no-plots",
                "--quiet",
                "--workers",
                workers,
                "--max-rollouts",
                "40000",
            ],
        )
        assert result.exit_code == 0, result.output
        frames.append(pd.read_parquet(out / "seed" / "summary.parquet"))  # the file's name
    pd.testing.assert_frame_equal(frames[0], frames[1])
    plan = plan_sweep(load_sweep_file(path), precision=0.01, max_rollouts=40_000)
    for index, _, experiment in plan.points:
        _, estimate, width = tally_to_precision(experiment, precision=0.01, max_rollouts=40_000)
        rows = frames[0][frames[0]["point"] == index]
        healthy = estimate.false_alarm
        assert width <= 0.01
        got = rows[rows["scenario"] == "healthy"].iloc[0]
        assert got["n_rollouts"] == healthy.n and got["rollbacks"] == healthy.events
        assert got["rollback_rate_hi"] == pytest.approx(healthy.hi)


def test_report_target_comes_from_the_file(tmp_path):
    """report.false_alarm_target judges the sweep's recommendation (sweep and plot),
    unless --target is given."""
    path = tmp_path / "own.yaml"
    path.write_text(
        SEED_FILE.read_text().replace("rollouts: 200000", "rollouts: 4096")
        + "report: {false_alarm_target: 0.05}\n"
        + "sweep:\n  grid:\n    policy.error_threshold_scale: [2.0, 3.0]\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["sweep", str(path), "--out", str(out), "--quiet", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    report = out / "seed" / "report.md"
    assert "at most **5%**" in report.read_text()
    assert CliRunner().invoke(app, ["plot", str(out / "seed"), "--target", "0.02"]).exit_code == 0
    assert "at most **2%**" in report.read_text()
    assert CliRunner().invoke(app, ["plot", str(out / "seed")]).exit_code == 0
    assert "at most **5%**" in report.read_text()
