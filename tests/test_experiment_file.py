"""Experiment files: safe YAML, and every problem reported as file:line:col: path: message."""

from __future__ import annotations

import textwrap

import pytest
from conftest import EXPERIMENTS
from hypothesis import given, settings
from hypothesis import strategies as st

from canary_mc.errors import ExperimentFileError
from canary_mc.io.experiment_file import load_experiment, parse_experiment

VALID = """\
seed: 1
rollouts: 1000
policy:
  stages:
    - {name: a, traffic_pct: 1, error_threshold: 0.02}
    - name: b
      traffic_pct: 100
      duration_steps: 2
      error_threshold: 0.01
service: {error_rate: 0.01, latency_ms: 100}
noise: {error_sigma: 0.005, latency_sigma_ms: 10}
scenarios:
  slow: {latency_delta_ms: 20, onset_stage: b}
"""


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path) -> list[str]:
    with pytest.raises(ExperimentFileError) as info:
        load_experiment(path)
    return [str(p) for p in info.value.problems]


def test_valid_file_loads_with_default_name(tmp_path):
    experiment = load_experiment(write(tmp_path, VALID))
    assert experiment.name == "exp"
    assert experiment.policy.n_steps == 3
    assert experiment.scenarios["slow"].onset_stage == "b"


def test_exponent_without_dot_is_a_number(tmp_path):
    """YAML 1.2: ``1e6`` is a float, which an integer field accepts when it is whole."""
    experiment = load_experiment(write(tmp_path, VALID.replace("rollouts: 1000", "rollouts: 1e6")))
    assert experiment.rollouts == 1_000_000
    assert isinstance(experiment.rollouts, int)


BAD = {
    "rule: parameter out of range": (
        VALID.replace("policy:\n", "policy:\n  rule: {kind: ztest, alpha: 1.5}\n"),
        ["{f}:4:30: policy.rule.alpha: must be less than 1, got 1.5"],
    ),
    "rule: no kind": (
        VALID.replace("policy:\n", "policy:\n  rule: {alpha: 0.1}\n"),
        [
            "{f}:4:9: policy.rule: must have a 'kind' (threshold, failure_limit,"
            " cumulative_checks, ztest, sprt, msprt, mannwhitney, kayenta)"
        ],
    ),
    "rule: unknown key": (
        VALID.replace("policy:\n", "policy:\n  rule: {kind: sprt, gamma: 1}\n"),
        [
            "{f}:4:22: policy.rule.gamma: unknown key 'gamma'; expected one of: kind, alpha,"
            " beta, min_error_increase, min_latency_increase_ms, alpha_split"
        ],
    ),
    "rule: sprt errors add up to 1 or more": (
        VALID.replace("policy:\n", "policy:\n  rule: {kind: sprt, alpha: 0.5, beta: 0.6}\n"),
        ["{f}:4:40: policy.rule.beta: alpha + beta must be below 1, got 1.1"],
    ),
    "rule: step_weight with several stages": (
        VALID.replace("policy:\n", "policy:\n  rule: {kind: cumulative_checks, step_weight: 20}\n"),
        [
            "{f}:4:48: policy.rule.step_weight: cumulative_checks: with step_weight,"
            " policy.stages must hold one template stage (its weights are made from"
            " step_weight), got 2 stages"
        ],
    ),
    "rule: text for a boolean": (
        VALID.replace("policy:\n", "policy:\n  rule: {kind: failure_limit, consecutive: 'yes'}\n"),
        ["{f}:4:44: policy.rule.consecutive: must be true or false, got 'yes'"],
    ),
    "rule: negative failure_limit": (
        VALID.replace("policy:\n", "policy:\n  rule: {kind: failure_limit, failure_limit: -1}\n"),
        ["{f}:4:46: policy.rule.failure_limit: must be at least 0, got -1"],
    ),
    "unknown key": (
        VALID.replace("      duration_steps: 2", "      duraton_steps: 2"),
        [
            "{f}:8:7: policy.stages[1].duraton_steps: unknown key 'duraton_steps'; expected one of:"
            " name, traffic_pct, duration_steps, duration, error_threshold,"
            " latency_threshold_ms, metrics"
        ],
    ),
    "unknown top-level key": (
        VALID + "colour: blue\n",
        [
            "{f}:14:1: colour: unknown key 'colour'; expected one of: name, description, seed,"
            " rollouts, policy, service, noise, scenarios, sweep, precision, max_rollouts, report"
        ],
    ),
    "wrong type": (
        VALID.replace("error_sigma: 0.005", "error_sigma: high"),
        ["{f}:11:22: noise.error_sigma: must be a number, got the string 'high'"],
    ),
    "out of range": (
        VALID.replace("traffic_pct: 100", "traffic_pct: 120"),
        ["{f}:7:20: policy.stages[1].traffic_pct: must be at most 100, got 120"],
    ),
    "boolean for a number": (
        VALID.replace("duration_steps: 2", "duration_steps: true"),
        ["{f}:8:23: policy.stages[1].duration_steps: must be a number, got true"],
    ),
    "fractional integer": (
        VALID.replace("rollouts: 1000", "rollouts: 10.5"),
        ["{f}:2:11: rollouts: must be a whole number, got 10.5"],
    ),
    "missing key": (
        VALID.replace(
            "service: {error_rate: 0.01, latency_ms: 100}", "service: {error_rate: 0.01}"
        ),
        ["{f}:10:10: service.latency_ms: required key is missing"],
    ),
    "empty stage list": (
        "policy: {stages: []}\nservice: {error_rate: 0.01, latency_ms: 100}\n"
        "noise: {error_sigma: 0.005, latency_sigma_ms: 10}\n",
        ["{f}:1:18: policy.stages: must list at least one stage, got an empty list"],
    ),
    "duplicate stage name": (
        VALID.replace("name: b", "name: a"),
        [
            "{f}:6:13: policy.stages[1].name: stage names must be unique, got 'a' twice",
            "{f}:13:45: scenarios.slow.onset_stage: must name a stage ('a', 'a') or be a"
            " 0-based index below 2, got 'b'",
        ],
    ),
    "bad onset stage": (
        VALID.replace("onset_stage: b", "onset_stage: c"),
        [
            "{f}:13:45: scenarios.slow.onset_stage: must name a stage ('a', 'b') or be a 0-based"
            " index below 2, got 'c'"
        ],
    ),
    "unknown rule": (
        VALID.replace("policy:\n", "policy:\n  rule: vibes\n"),
        [
            "{f}:4:9: policy.rule: kind must be one of 'threshold', 'failure_limit',"
            " 'cumulative_checks', 'ztest', 'sprt', 'msprt', 'mannwhitney', 'kayenta', got 'vibes'"
        ],
    ),
    "cross-field problems beside field problems": (
        VALID.replace("name: b", "name: a")
        .replace("onset_stage: b", "onset_stage: zz")
        .replace("error_rate: 0.01", "error_rate: 2"),
        [
            "{f}:6:13: policy.stages[1].name: stage names must be unique, got 'a' twice",
            "{f}:10:23: service.error_rate: must be at most 1, got 2",
            "{f}:13:45: scenarios.slow.onset_stage: must name a stage ('a', 'a') or be a"
            " 0-based index below 2, got 'zz'",
        ],
    ),
    "empty value": (
        VALID.replace("latency_ms: 100}", "latency_ms: }").replace(
            "  stages:", "  rule:\n  stages:"
        ),
        [
            "{f}:4:3: policy.rule: must be a rule kind (threshold, failure_limit,"
            " cumulative_checks, ztest, sprt, msprt, mannwhitney, kayenta) or a mapping with a"
            " 'kind', got nothing (null)",
            "{f}:11:29: service.latency_ms: must be a number, got nothing (null)",
        ],
    ),
    "stage name that is a mapping": (
        VALID.replace("    - name: b\n", "    - name:\n        x: 1\n"),
        ["{f}:7:9: policy.stages[1].name: must be a string, got a mapping"],
    ),
    "non-text key": (
        VALID.replace("scenarios:", "scenarios:\n  true: {}"),
        ["{f}:13:3: scenarios: mapping keys must be text, got true; quote it"],
    ),
    "onset given as a boolean": (
        VALID.replace("onset_stage: b", "onset_stage: true"),
        [
            "{f}:13:45: scenarios.slow.onset_stage: must be a stage name or a 0-based stage"
            " index, got true"
        ],
    ),
    "huge number for a whole number": (
        VALID.replace("seed: 1", "seed: 1e30"),
        ["{f}:1:7: seed: must be a whole number, got 1e+30"],
    ),
    "alias bomb": (
        "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 8)),
        ["{f}:4:45: aliases expand to more than 10,000 values"],
    ),
    "recursive alias": (
        "scenarios: &x {a: *x}\n",
        ["{f}:1:19: recursive alias *x"],
    ),
    "every problem at once": (
        VALID.replace("seed: 1", "seed: -1").replace("error_sigma: 0.005", "error_sigma: -2"),
        [
            "{f}:1:7: seed: must be at least 0, got -1",
            "{f}:11:22: noise.error_sigma: must be at least 0, got -2",
        ],
    ),
    "yaml syntax error": (
        "policy: [\n",
        [
            "{f}:2:1: invalid YAML: while parsing a flow node expected the node content, but found"
            " '<stream end>'"
        ],
    ),
    "duplicate yaml key": (
        VALID + "seed: 2\n",
        [
            '{f}:14:1: invalid YAML: while constructing a mapping found duplicate key "seed" with'
            ' value "2" (original value: "1")'
        ],
    ),
    "python object tag": (
        VALID.replace("seed: 1", "seed: !!python/object/apply:os.system ['true']"),
        ["{f}:1:7: YAML tags are not allowed, got !!python/object/apply:os.system"],
    ),
    "even standard tags": (
        VALID.replace("seed: 1", "seed: !!int 1").replace("scenarios:", "scenarios: !!omap"),
        [
            "{f}:1:7: YAML tags are not allowed, got !!int",
            "{f}:12:12: YAML tags are not allowed, got !!omap",
        ],
    ),
    "quoted number": (
        VALID.replace("error_threshold: 0.01", 'error_threshold: "0.01"'),
        ["{f}:9:24: policy.stages[1].error_threshold: must be a number, got the string '0.01'"],
    ),
    "date for a number": (
        VALID.replace("latency_ms: 100", "latency_ms: 2026-11-27"),
        ["{f}:10:41: service.latency_ms: must be a number, got the string '2026-11-27'"],
    ),
    "counts model without traffic": (
        VALID.replace(
            "noise: {error_sigma: 0.005, latency_sigma_ms: 10}", "noise: {model: counts}"
        ),
        [
            "{f}:10:10: service.requests_per_step: required by noise.model: counts"
            " (or requests_per_second)"
        ],
    ),
    "traffic under the gaussian model": (
        VALID.replace("latency_ms: 100}", "latency_ms: 100, requests_per_step: 500}"),
        [
            "{f}:10:65: service.requests_per_step: only used by noise.model: counts (the"
            " Gaussian model has no traffic)"
        ],
    ),
    "unknown noise model": (
        VALID.replace("noise: {error_sigma", "noise: {model: poisson, error_sigma"),
        ["{f}:11:16: noise.model: must be one of 'gaussian', 'counts', got 'poisson'"],
    ),
    "tail-only latency under the gaussian model": (
        VALID.replace("onset_stage: b}", "onset_stage: b, latency_tail_only: true}"),
        [
            "{f}:13:67: scenarios.slow.latency_tail_only: needs noise.model: counts (the"
            " Gaussian model has no latency distribution to have a tail)"
        ],
    ),
    "gaussian key in counts noise": (
        VALID.replace(
            "noise: {error_sigma: 0.005, latency_sigma_ms: 10}",
            "noise: {model: counts, error_sigma: 0.005}",
        ).replace("latency_ms: 100}", "latency_ms: 100, requests_per_step: 10}"),
        [
            "{f}:11:24: noise.error_sigma: unknown key 'error_sigma'; expected one of: model,"
            " error_dispersion, error_dispersion_mode, latency_log_sigma, latency_metric"
        ],
    ),
    "probability above 1": (
        VALID.replace("onset_stage: b}", "onset_stage: b, intermittent_q: 1.5}"),
        ["{f}:13:64: scenarios.slow.intermittent_q: must be at most 1, got 1.5"],
    ),
    "not a mapping": ("- 1\n- 2\n", ["{f}:1:1: must be a mapping of keys to values, got a list"]),
    "empty file": ("", ["{f}:1:1: must be a mapping of keys to values, got nothing (null)"]),
    "nested too deeply": (
        "a: " + "[" * 100 + "]" * 100 + "\n",
        ["{f}:1:35: invalid YAML: nested more than 32 levels deep"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_report_exact_messages(tmp_path, case):
    text, expected = BAD[case]
    path = write(tmp_path, text)
    assert problems_of(path) == [e.format(f=path) for e in expected]


ALIASED = """\
policy:
  stages:
    - &stage {name: a, traffic_pct: 1, error_threshold: 0.02}
    - <<: *stage
      name: b
      traffic_pct: 100
    - *stage
service: {error_rate: 0.01, latency_ms: 100}
noise: {error_sigma: 0.005, latency_sigma_ms: 10}
"""


def test_anchors_and_merge_keys_are_supported(tmp_path):
    text = ALIASED.replace("    - *stage\n", "")
    experiment = load_experiment(write(tmp_path, text))
    assert [s.name for s in experiment.policy.stages] == ["a", "b"]
    assert experiment.policy.stages[1].error_threshold == 0.02  # merged from the anchor


def test_problems_inside_an_alias_are_reported_at_the_alias(tmp_path):
    path = write(tmp_path, ALIASED)
    assert problems_of(path) == [
        f"{path}:7:7: policy.stages[2].name: stage names must be unique, got 'a' twice"
    ]


def test_problem_in_a_merged_key_points_at_the_merging_mapping(tmp_path):
    text = ALIASED.replace("    - *stage\n", "").replace("0.02}", "-0.02}")
    path = write(tmp_path, text)
    assert problems_of(path) == [
        f"{path}:3:57: policy.stages[0].error_threshold: must be at least 0, got -0.02",
        f"{path}:4:7: policy.stages[1].error_threshold: must be at least 0, got -0.02",
    ]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert problems_of(path) == [f"{path}: no such file"]


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_experiments_are_valid(path):
    assert load_experiment(path).name == path.stem


@st.composite
def mangled(draw: st.DrawFn) -> str:
    """The valid file with a few characters replaced, inserted or deleted."""
    text = ALIASED if draw(st.booleans()) else VALID
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        piece = draw(st.sampled_from([*":-[]{}&*!<>#'\"\n ,?|%@`\t0e.x", "", "\n  ", ": "]))
        cut = draw(st.integers(0, 3))
        text = text[:i] + piece + text[i + cut :]
    return text


@settings(max_examples=400)
@given(text=st.one_of(mangled(), st.text(max_size=200)))
def test_any_text_gives_an_experiment_or_located_problems(text):
    """No input escapes as anything but ExperimentFileError, and every problem is placed."""
    try:
        parse_experiment(text, file="f.yaml")
    except ExperimentFileError as exc:
        assert exc.problems
        lines = text.count("\n") + 2
        for problem in exc.problems:
            assert problem.file == "f.yaml"
            assert problem.line is None or 1 <= problem.line <= lines, problem


@pytest.mark.parametrize("correction", ["none", "bonferroni", "pocock", "obrien_fleming_spending"])
def test_a_critical_value_without_calibration_is_refused_where_written(tmp_path, correction):
    rule = f"  rule: {{kind: ztest, correction: {correction}, critical_value: 2.1}}\n"
    path = write(tmp_path, VALID.replace("policy:\n", "policy:\n" + rule))
    col = rule.index("critical_value") + 1
    assert problems_of(path) == [
        f"{path}:4:{col + len('critical_value: ')}: policy.rule.critical_value: is used only "
        "with correction: calibrated (the other corrections compute their own critical "
        f"values), got correction: {correction}"
    ]


def test_a_calibrated_rule_may_carry_its_critical_value(tmp_path):
    rule = "  rule: {kind: ztest, correction: calibrated, critical_value: 2.1}\n"
    experiment = load_experiment(write(tmp_path, VALID.replace("policy:\n", "policy:\n" + rule)))
    assert experiment.policy.rule.critical_value == 2.1
