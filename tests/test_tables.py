"""summary.parquet and stages.parquet as a pandas user reads them: dtypes, the scenario
order, rollbacks by reason, model-specific columns, rule columns, no join needed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from canary_mc.io.experiment_file import load_sweep_file
from canary_mc.sweep import store
from canary_mc.sweep.runner import plan_sweep, run_sweep

GAUSSIAN = """\
name: g
seed: 3
rollouts: 1500
policy:
  latency_threshold_ms: 20
  stages:
    - {name: small, traffic_pct: 5, duration_steps: 2, error_threshold: 0.02}
    - {name: all, traffic_pct: 100, duration_steps: 2, error_threshold: 0.01}
service: {error_rate: 0.01, latency_ms: 100}
noise: {error_sigma: 0.006, latency_sigma_ms: 10}
scenarios:
  zeta-regression: {error_delta: 0.01}
  alpha-regression: {latency_delta_ms: 15}
sweep:
  zip:
    - {policy.rule: {kind: threshold}, policy.error_threshold_scale: 1}
    - {policy.rule: {kind: ztest, correction: pocock, alpha: 0.05}, policy.error_threshold_scale: 1}
    - {policy.rule: {kind: ztest, correction: pocock, alpha: 0.01}, policy.error_threshold_scale: 1}
"""

COUNTS = """\
name: c
seed: 5
rollouts: 1500
policy:
  latency_threshold_ms: 60
  no_data: fail
  stages:
    - {name: one, traffic_pct: 1, duration_steps: 4, error_threshold: 0.02}
    - {name: half, traffic_pct: 50, duration_steps: 2, error_threshold: 0.01}
service:
  {error_rate: 0.01, latency_ms: 80, requests_per_step: 60, diurnal_amplitude: 0.5,
   diurnal_period_steps: 4}
noise: {model: counts, latency_log_sigma: 0.5}
scenarios:
  healthy: {}
  errors: {error_delta: 0.02}
sweep:
  grid:
    policy.error_threshold_scale: [1.0, 2.0]
"""


def sweep(tmp_path: Path, text: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_sweep(plan_sweep(load_sweep_file(path)), tmp_path / "out")
    return store.read_summary(result.directory), store.read_stages(result.directory)


@pytest.fixture(scope="module")
def gaussian(tmp_path_factory):
    return sweep(tmp_path_factory.mktemp("g"), GAUSSIAN)


@pytest.fixture(scope="module")
def counts(tmp_path_factory):
    return sweep(tmp_path_factory.mktemp("c"), COUNTS)


def test_scenario_is_an_ordered_categorical_in_file_order(gaussian):
    summary, stages = gaussian
    expected = ["healthy", "zeta-regression", "alpha-regression"]  # healthy added first
    for frame in (summary, stages):
        dtype = frame["scenario"].dtype
        assert isinstance(dtype, pd.CategoricalDtype) and dtype.ordered
        assert list(dtype.categories) == expected
    # sorting keeps the file's order, not the alphabet's
    assert list(summary.sort_values("scenario")["scenario"].unique()) == expected


def test_counts_are_integers_and_reasons_add_up(gaussian, counts):
    for summary, _ in (gaussian, counts):
        reasons = [c for c in summary.columns if c.startswith("rollbacks_")]
        for column in ("point", "n_rollouts", "rollbacks", "n_steps", "n_stages", *reasons):
            assert summary[column].dtype == "int64", column
        assert (summary[reasons].sum(axis=1) == summary["rollbacks"]).all()
    assert [c for c in gaussian[0].columns if c.startswith("rollbacks_")] == [
        "rollbacks_error",
        "rollbacks_latency",
    ]
    assert [c for c in counts[0].columns if c.startswith("rollbacks_")] == [
        "rollbacks_error",
        "rollbacks_latency",
        "rollbacks_no_data",
    ]
    # 30 requests at step 3 (the diurnal low), none of them the 1% canary's: a step
    # without data, so no-data rollbacks happen (policy.no_data: fail), in their column
    assert counts[0]["rollbacks_no_data"].sum() > 0


def test_model_specific_columns(gaussian, counts):
    blast = ["canary_requests_mean", "excess_errors_mean", "excess_errors_p95"]
    for column in blast:
        assert column not in gaussian[0].columns  # never null-only under Gaussian noise
        assert counts[0][column].notna().all()
    for column in ("excess_errors_p95", "excess_errors_p95_lo", "excess_errors_p95_hi"):
        assert counts[0][column].dtype == "int64"
    assert counts[0]["canary_requests_mean"].dtype == "float64"
    # only detection on healthy rows is null, and a rule parameter another rule lacks
    for summary, _ in (gaussian, counts):
        nulls = summary.columns[summary.isna().any()].tolist()
        detection = {"detection_rate", "detection_rate_lo", "detection_rate_hi"}
        assert set(nulls) - detection <= {"policy.rule.alpha", "policy.rule.correction"}


def test_rule_kind_and_varied_parameters_are_flat_columns(gaussian, counts):
    summary, _ = gaussian
    healthy = summary[summary["healthy"]]
    assert healthy["rule"].tolist() == ["threshold", "ztest", "ztest"]
    assert str(summary["rule"].dtype) == "string"
    assert healthy["policy.rule.alpha"].tolist()[1:] == [0.05, 0.01]
    assert pd.isna(healthy["policy.rule.alpha"].iloc[0])  # the threshold rule has none
    assert healthy["policy.rule.correction"].tolist()[1:] == ["pocock", "pocock"]
    assert healthy["policy.rule.scope"].tolist()[1:] == ["rollout", "rollout"]  # default
    # right after the kind, in the rule's own order
    columns = list(summary.columns)
    at = columns.index("rule")
    assert columns[at + 1 : at + 4] == [
        "policy.rule.alpha",
        "policy.rule.correction",
        "policy.rule.scope",
    ] or set(columns[at + 1 : at + 4]) == {
        "policy.rule.alpha",
        "policy.rule.correction",
        "policy.rule.scope",
    }
    # a sweep that does not vary the rule gets its kind and no parameter columns
    assert (counts[0]["rule"] == "threshold").all()
    assert not [c for c in counts[0].columns if c.startswith("policy.rule.")]
    # filtering by rule needs no string matching on JSON
    assert len(summary[summary["rule"] == "ztest"]) == 6
    assert "policy.rule" in summary.columns  # the swept mapping stays, as JSON text


def test_stages_carry_the_swept_columns(gaussian, counts):
    for summary, stages in (gaussian, counts):
        swept = [
            c
            for c in summary.columns
            if c.startswith("policy.") or c.startswith("noise.") or c == "rule"
        ]
        assert swept
        merged = stages.merge(summary[["point", "scenario", *swept]], on=["point", "scenario"])
        for column in swept:
            assert merged[f"{column}_x"].equals(merged[f"{column}_y"]), column
            assert stages[column].dtype == summary[column].dtype
