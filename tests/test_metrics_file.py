"""Experiment files with ``metrics:``: located messages, caveats, time units, sweep paths."""

from __future__ import annotations

import textwrap

import pytest

from canary_mc.errors import ExperimentFileError
from canary_mc.io.experiment_file import (
    load_experiment,
    load_experiment_with_caveats,
    load_sweep_file,
)

BASE = """\
policy:
  rule: {rule}
  interval: 1m
  metrics:
    - {{name: ok, kind: success_rate, unit: percent, compare: {compare}, min: 99}}
    - {{name: p99, kind: latency, stat: p99, compare: absolute, max: 500}}
  stages:
    - {{name: s10, traffic_pct: 10, duration: {duration}}}
    - {{name: s100, traffic_pct: 100, duration_steps: 2}}
service:
  error_rate: 0.01
  latency_ms: 100
  requests_per_second: 20
noise: {{model: counts}}
scenarios:
  bad:
    faults:
      {fault}
"""


def write(
    tmp_path, rule="threshold", compare="absolute", duration="5m", fault="ok: {error_delta: 0.01}"
):
    path = tmp_path / "exp.yaml"
    path.write_text(BASE.format(rule=rule, compare=compare, duration=duration, fault=fault))
    return path


def problems_of(path) -> list[str]:
    with pytest.raises(ExperimentFileError) as info:
        load_experiment(path)
    return [str(p).removeprefix(f"{path}:") for p in info.value.problems]


def test_valid_file_resolves_time_units_and_faults(tmp_path):
    experiment = load_experiment(write(tmp_path))
    assert [s.duration_steps for s in experiment.policy.stages] == [5, 2]
    assert experiment.service.requests_per_step == 1200
    assert experiment.policy.interval_minutes == 1.0
    folded = experiment.evaluated_scenarios["bad"]
    assert folded.error_delta == 0.01 and folded.faults == {}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"rule": "{kind: ztest}"},
            "5:62: policy.metrics[0].compare: rule ztest tests canary against baseline, so it "
            "needs compare: delta; got absolute. For a limit on the canary's own value "
            "(absolute) or on canary / baseline (ratio) use a threshold-family rule: "
            "threshold, failure_limit or cumulative_checks",
        ),
        (
            {"duration": "90s"},
            "8:46: policy.stages[0].duration: must be a whole number of policy.interval "
            "(1m), got 90s = 1.5 intervals",
        ),
        (
            {"duration": "five"},
            "8:46: policy.stages[0].duration: must be a duration such as '30s', '1m', '5m' "
            "or '1h' (a number then one of ms, s, m, h, d), got 'five'",
        ),
        (
            {"fault": "ok: {latency_delta_ms: 5}"},
            "18:30: scenarios.bad.faults.ok.latency_delta_ms: 'ok' is a rate metric; its "
            "faults take error_delta, error_relative, error_ramp_per_step",
        ),
        (
            {"fault": "typo: {error_delta: 0.01}"},
            "18:13: scenarios.bad.faults.typo: names no metric of the policy or gauge of "
            "service.gauges (known: 'ok', 'p99')",
        ),
    ],
)
def test_bad_metric_files_report_located_messages(tmp_path, fields, expected):
    assert problems_of(write(tmp_path, **fields))[0] == expected


def test_two_faults_on_one_signal_are_refused(tmp_path):
    path = write(tmp_path)
    text = path.read_text().replace(
        "    - {name: p99,",
        "    - {name: err, kind: error_rate, compare: absolute, max: 0.02}\n    - {name: p99,",
    )
    text = text.replace(
        "      ok: {error_delta: 0.01}",
        "      ok: {error_delta: 0.01}\n      err: {error_delta: 0.02}",
    )
    path.write_text(text)
    assert problems_of(path) == [
        "20:12: scenarios.bad.faults.err: 'err' reads the same signal as faults.ok: give "
        "that fault once (every metric reading the signal sees it)"
    ]


def test_shorthand_mixed_with_metrics_is_refused(tmp_path):
    path = write(tmp_path)
    path.write_text(
        path.read_text().replace("duration: 5m}", "duration: 5m, error_threshold: 0.01}")
    )
    assert problems_of(path) == [
        "8:67: policy.stages[0].error_threshold: is shorthand for a policy without metrics; "
        "with policy.metrics give this stage's limits as metrics: {<metric>: {max: ...}}"
    ]


def test_delta_metric_without_a_baseline_is_a_located_caveat(tmp_path):
    _, caveats = load_experiment_with_caveats(write(tmp_path, rule="threshold"))
    assert caveats == ()  # absolute metrics are checked at 100% too
    path = write(tmp_path, compare="delta")
    path.write_text(path.read_text().replace("min: 99", "min: -1"))
    _, caveats = load_experiment_with_caveats(path)
    assert [str(c).removeprefix(f"{path}:") for c in caveats] == [
        "9:33: policy.stages[1].traffic_pct: stage 's100': metric 'ok' (compare: delta) is "
        "not checked here: at 100% traffic with baseline: rest the baseline serves no "
        "requests, so there is nothing to compare the canary with (steps without data "
        "decide as policy.no_data says). Use compare: absolute for a limit on the canary "
        "alone, or service.baseline: matched"
    ]


def test_sweep_paths_reach_metrics_and_faults(tmp_path):
    path = write(tmp_path, duration="5m, metrics: {ok: {min: 98}}")
    path.write_text(
        path.read_text()
        + textwrap.dedent(
            """\
            sweep:
              grid:
                policy.metrics.p99.max: [400, 600]
                scenarios.bad.faults.ok.error_delta: [0.005, 0.02]
                policy.stages.s10.metrics.ok.min: [98, 99.5]
            """
        )
    )
    sweep = load_sweep_file(path)
    points = [experiment for _, experiment in sweep.points()]
    assert len(points) == 8
    assert {p.policy.metrics[1].max for p in points} == {400.0, 600.0}
    assert {p.evaluated_scenarios["bad"].error_delta for p in points} == {0.005, 0.02}
    assert {p.policy.stages[0].metrics["ok"].min for p in points} == {98.0, 99.5}


def test_example_trace_shows_minutes_and_each_metric(tmp_path):
    from canary_mc.engine import trace_rollout

    experiment = load_experiment(write(tmp_path))
    trace = trace_rollout(experiment, scenario="healthy")
    first = trace.snapshots[0].to_dict()
    assert first["minute"] == 1.0
    assert set(first["metrics"]) == {"ok", "p99"}
    assert first["metrics"]["ok"]["min"] == 99.0
    assert [s.minute for s in trace.snapshots] == [
        float(i + 1) for i in range(len(trace.snapshots))
    ]


@pytest.mark.parametrize(
    ("rule", "band", "expected"),
    [
        (
            "{kind: threshold}",
            "{min: 99.5}",
            "5:95: policy.metrics[0].inconclusive: an Inconclusive band needs rule "
            "failure_limit without consecutive (Argo counts totals); got rule threshold",
        ),
        (
            "{kind: failure_limit, consecutive: true}",
            "{min: 99.5}",
            "5:95: policy.metrics[0].inconclusive: an Inconclusive band needs rule "
            "failure_limit without consecutive (Argo counts totals); got rule failure_limit "
            "with consecutive: true",
        ),
        (
            "{kind: failure_limit}",
            "{min: 98}",
            "5:101: policy.metrics[0].inconclusive.min: must be at least the metric's min "
            "(99): a value below min fails, got 98",
        ),
        (
            "{kind: failure_limit}",
            "{}",
            "5:95: policy.metrics[0].inconclusive: needs max, min or both (the passing band)",
        ),
        (
            "{kind: failure_limit, inconclusive_limit: -1}",
            "{min: 99.5}",
            "2:51: policy.rule.inconclusive_limit: must be at least 0, got -1",
        ),
    ],
)
def test_inconclusive_band_errors_are_located(tmp_path, rule, band, expected):
    path = write(tmp_path, rule=rule)
    text = path.read_text().replace(
        "compare: absolute, min: 99}", f"compare: absolute, min: 99, inconclusive: {band}}}", 1
    )
    path.write_text(text)
    assert problems_of(path) == [expected]


def test_inconclusive_band_loads_under_failure_limit(tmp_path):
    path = write(tmp_path, rule="{kind: failure_limit, inconclusive_limit: 2}")
    path.write_text(path.read_text().replace("min: 99}", "min: 99, inconclusive: {min: 99.5}}", 1))
    experiment = load_experiment(path)
    (check, _) = experiment.policy.checks
    assert check.inconclusive.min == (99.5, 99.5)
    assert experiment.policy.rule.inconclusive_limit == 2


def test_unset_inconclusive_fields_leave_saved_keys_unchanged(tmp_path):
    # Point keys and rule columns hash the model's dump: without a band or a limit the
    # dump is what it was before these fields existed, so saved results stay reusable.
    experiment = load_experiment(write(tmp_path, rule="{kind: failure_limit}"))
    dumped = experiment.policy.model_dump(mode="json")
    assert "inconclusive_limit" not in dumped["rule"]
    assert all("inconclusive" not in m for m in dumped["metrics"])
