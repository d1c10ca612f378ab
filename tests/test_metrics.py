"""Metrics (``policy.metrics``): engine = scalar reference, check forms against theory.

- Hypothesis: on the Gaussian model, every rule on any mix of metrics (kinds, compare
  modes, units, ranges, gauges, per-stage limits, ``alpha_split``) gives per-rollout
  outcomes identical to :func:`canary_mc.reference_rules.reference_rule_rollout` on the
  same draws; on counts the threshold rule equals
  :func:`canary_mc.reference.reference_counts_rollout`.
- Theory (4 standard errors): an absolute limit on the Gaussian model,
  ``1 - prod_j Phi((limit - value) / sigma)``; an absolute limit on counts, the exact
  binomial tail of the canary's own errors at each step (scipy); a ratio; a range with
  both ``min`` and ``max``; five independent gauges, the product of their pass
  probabilities.
- ``success_rate`` ``min`` decides exactly as the matching ``error_rate`` ``max``.
- A fault present only where the baseline serves nothing is invisible under every rule
  with ``no_data: hold`` (issue 13, item 1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import engine_outcome, reference_outcome
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from canary_mc.engine.core.schedule import plan_fault, plan_policy, plan_world
from canary_mc.engine.noise.counts import (
    blast_radius,
    draw_counts,
    observe_counts,
    plan_counts_world,
)
from canary_mc.engine.noise.draws import draw_gaussian
from canary_mc.engine.rules.registry import RULES, rollout_outcomes
from canary_mc.engine.simulate import run_experiment, simulate_outcomes
from canary_mc.model import CountsNoise, Experiment, GaussianNoise, Policy, Scenario, Service
from canary_mc.model.metrics import Gauge, Limits, Metric, MetricFault, signal_of
from canary_mc.model.policy import Stage
from canary_mc.reference import reference_counts_rollout
from canary_mc.reference_rules import reference_rule_rollout

TOLERANCE_SE = 4.0


def assert_close(got: float, want: float, n: int, what: str) -> None:
    se = math.sqrt(max(want * (1 - want), 1e-12) / n)
    assert abs(got - want) <= TOLERANCE_SE * se, f"{what}: {got} vs {want} (SE {se:.3g})"


# --- strategies ------------------------------------------------------------------------

GAUGES = {"cpu": Gauge(mean=40.0, sigma=4.0), "mem": Gauge(mean=0.0, sigma=1.0)}


@st.composite
def metric_lists(draw: st.DrawFn, statistical: bool, counts: bool) -> list[Metric]:
    """One to four metrics of every kind; limits from grids that make ties likely."""
    n = draw(st.integers(1, 4))
    metrics = []
    for i in range(n):
        kind = draw(st.sampled_from(["error_rate", "success_rate", "latency", "gauge"]))
        compare = "delta" if statistical else draw(st.sampled_from(["absolute", "delta", "ratio"]))
        name = draw(st.sampled_from(list(GAUGES))) if kind == "gauge" else f"m{i}"
        if any(m.name == name for m in metrics):
            continue
        unit = (
            draw(st.sampled_from([None, "percent"]))
            if kind in ("error_rate", "success_rate")
            else None
        )
        scale = 100.0 if unit == "percent" else 1.0
        grid = {
            ("error_rate", "absolute"): [0.0, 0.01, 0.02],
            ("error_rate", "delta"): [0.0, 0.005, 0.01],
            ("success_rate", "absolute"): [0.98, 0.99, 1.0],
            ("success_rate", "delta"): [-0.01, -0.005, 0.0],
            ("latency", "absolute"): [90.0, 110.0, 130.0],
            ("latency", "delta"): [-5.0, 0.0, 20.0],
            ("gauge", "absolute"): [-1.0, 0.0, 38.0, 45.0],
            ("gauge", "delta"): [-2.0, 0.0, 3.0],
        }.get((kind, compare), [0.9, 1.0, 1.2, 2.0])
        if compare != "ratio" and kind in ("error_rate", "success_rate"):
            grid = [g * scale for g in grid]
        bound = draw(st.sampled_from(["max", "min", "both"]))
        hi = draw(st.sampled_from(grid))
        lo = min(draw(st.sampled_from(grid)), hi)
        stat = (
            draw(st.sampled_from([None, "p50", "p99", "mean"]))
            if kind == "latency" and counts
            else None
        )
        metrics.append(
            Metric(
                name=name,
                kind=kind,
                compare=compare,
                unit=unit,
                stat=stat,
                max=None if bound == "min" else hi,
                min=None if bound == "max" else lo,
                direction=draw(st.sampled_from([None, "increase", "decrease"])),
                min_effect=draw(st.sampled_from([None, 0.5, 2.0])) if kind == "gauge" else None,
            )
        )
    if statistical:  # limits are unused there
        metrics = [m.model_copy(update={"max": None, "min": None}) for m in metrics]
        metrics = [
            m if m.kind != "gauge" else m.model_copy(update={"min_effect": m.min_effect or 1.0})
            for m in metrics
        ]
    return metrics


@st.composite
def metric_policies(draw: st.DrawFn, rule, counts: bool = False) -> Policy:
    statistical = rule.kind in ("ztest", "msprt", "sprt")
    metrics = draw(metric_lists(statistical, counts))
    n = draw(st.integers(1, 3))
    stages = []
    for i in range(n):
        overrides = None
        if not statistical and draw(st.booleans()):
            m = draw(st.sampled_from(metrics))
            if m.max is not None:
                overrides = {m.name: Limits(max=m.max * 2 if m.max > 0 else m.max + 1)}
        stages.append(
            Stage(
                name=f"s{i}",
                traffic_pct=draw(st.sampled_from([1, 10, 50, 100])),
                duration_steps=draw(st.integers(1, 3)),
                metrics=overrides,
            )
        )
    return Policy(stages=stages, rule=rule, metrics=metrics)


rules = st.one_of(
    st.just({"kind": "threshold"}),
    st.builds(
        lambda limit, scope, consecutive: {
            "kind": "failure_limit",
            "failure_limit": limit,
            "scope": scope,
            "consecutive": consecutive,
        },
        st.integers(0, 2),
        st.sampled_from(["stage", "rollout"]),
        st.booleans(),
    ),
    st.builds(lambda t: {"kind": "cumulative_checks", "threshold": t}, st.integers(1, 3)),
    st.builds(
        lambda c, scope, split: {
            "kind": "ztest",
            "alpha": 0.1,
            "correction": c,
            "scope": scope,
            "alpha_split": split,
        },
        st.sampled_from(["none", "bonferroni", "pocock"]),
        st.sampled_from(["stage", "rollout"]),
        st.sampled_from(["per_metric", "shared"]),
    ),
    st.builds(
        lambda split: {"kind": "msprt", "alpha": 0.2, "alpha_split": split},
        st.sampled_from(["per_metric", "shared"]),
    ),
    st.builds(
        lambda split: {"kind": "sprt", "alpha": 0.1, "beta": 0.2, "alpha_split": split},
        st.sampled_from(["per_metric", "shared"]),
    ),
)


def gauge_faults(draw: st.DrawFn) -> dict[str, MetricFault]:
    faults = {}
    for name in GAUGES:
        if draw(st.booleans()):
            faults[name] = MetricFault(
                delta=draw(st.sampled_from([0.0, 2.0, -3.0])),
                relative=draw(st.sampled_from([None, 0.1])),
                ramp_per_step=draw(st.sampled_from([None, 0.5])),
            )
    return faults


# --- engine = reference ------------------------------------------------------------------


@given(data=st.data(), rule=rules)
def test_gaussian_engine_matches_reference_on_metrics(data, rule):
    assert_gaussian_matches_reference(data, data.draw(metric_policies(_rule(rule))))


BAND_STEP = {"rate": 0.005, "latency": 10.0, "gauge": 2.0, "ratio": 0.1}
"""A step of each signal's units between a metric's limit and its passing band."""


@st.composite
def inconclusive_policies(draw: st.DrawFn, counts: bool = False) -> Policy:
    """``failure_limit`` (totals) with ``inconclusive_limit`` and a passing band on some
    metrics: 0, 1 or 2 steps inside the failing limits (0: an empty band)."""
    rule = {
        "kind": "failure_limit",
        "failure_limit": draw(st.integers(0, 2)),
        "inconclusive_limit": draw(st.integers(0, 2)),
        "scope": draw(st.sampled_from(["stage", "rollout"])),
    }
    policy = draw(metric_policies(_rule(rule), counts=counts))
    metrics = []
    for m in policy.metrics:
        signal = "ratio" if m.compare == "ratio" else signal_of(m.kind)
        step = BAND_STEP[signal] * (float(m.rate_unit) if signal == "rate" else 1.0)
        band = {}
        if m.max is not None and draw(st.booleans()):
            band["max"] = m.max - step * draw(st.sampled_from([0, 1, 2]))
        if m.min is not None and draw(st.booleans()):
            band["min"] = m.min + step * draw(st.sampled_from([0, 1, 2]))
        if "max" in band and "min" in band and band["min"] > band["max"]:
            del band["min"]
        metrics.append({**m.model_dump(), "inconclusive": band or None})
    return Policy.model_validate({**policy.model_dump(exclude_unset=True), "metrics": metrics})


@given(data=st.data())
def test_gaussian_inconclusive_matches_reference(data):
    assert_gaussian_matches_reference(data, data.draw(inconclusive_policies()))


def assert_gaussian_matches_reference(data, policy: Policy) -> None:
    """Per-rollout outcomes of the engine equal the scalar reference's on the same draws."""
    service = Service(
        error_rate=data.draw(st.sampled_from([0.0, 0.01, 0.5])), latency_ms=100.0, gauges=GAUGES
    )
    noise = GaussianNoise(
        error_sigma=data.draw(st.sampled_from([0.0, 0.005])),
        latency_sigma_ms=data.draw(st.sampled_from([0.0, 10.0])),
    )
    scenario = Scenario(
        error_delta=data.draw(st.sampled_from([0.0, 0.01, -0.02])),
        latency_delta_ms=data.draw(st.sampled_from([0.0, 20.0])),
        onset_stage=data.draw(st.sampled_from([None, 0, len(policy.stages) - 1])),
        error_ramp_per_step=data.draw(st.sampled_from([0.0, 0.002])),
        intermittent_q=data.draw(st.sampled_from([1.0, 0.5])),
        faults=gauge_faults(data.draw),
    )
    n = 48
    seed = data.draw(st.integers(0, 2**32))
    gauges = tuple(c.name for c in policy.checks if c.kind == "gauge")
    draws = draw_gaussian(seed, 0, n, policy.max_steps, presence=True, gauges=gauges)
    world = plan_world(policy, service, noise, scenario)
    plan = plan_policy(policy)
    outcomes = rollout_outcomes(draws, world, plan)
    names = plan.metric_names
    for i in range(n):
        ref = reference_rule_rollout(
            policy,
            service,
            noise,
            scenario,
            draws.error_z[i].tolist(),
            draws.latency_z[i].tolist(),
            draws.presence_u[i].tolist(),
            {g: draws.gauge_z[g][i].tolist() for g in gauges},
        )
        got = engine_outcome(outcomes, i, names)
        assert got == reference_outcome(ref), i


def _rule(mapping: dict):
    return Policy.model_validate(
        {"stages": [{"name": "x", "traffic_pct": 1, "error_threshold": 0}], "rule": mapping}
    ).rule


@given(data=st.data())
def test_counts_engine_matches_reference_on_metrics(data):
    assert_counts_matches_reference(
        data, data.draw(metric_policies(_rule({"kind": "threshold"}), counts=True))
    )


@given(data=st.data())
def test_counts_inconclusive_matches_reference(data):
    assert_counts_matches_reference(data, data.draw(inconclusive_policies(counts=True)))


def assert_counts_matches_reference(data, policy: Policy) -> None:
    """Per-rollout outcomes and blast radius on counts equal the ``Fraction`` reference's."""
    policy = policy.model_copy(
        update={"no_data": data.draw(st.sampled_from(["hold", "pass", "fail"]))}
    )
    service = Service(
        error_rate=data.draw(st.sampled_from([0.0, 0.01, 0.2])),
        latency_ms=100.0,
        requests_per_step=data.draw(st.sampled_from([1, 20, 300])),
        baseline=data.draw(st.sampled_from(["rest", "matched"])),
        gauges=GAUGES,
    )
    noise = CountsNoise(
        model="counts",
        error_dispersion=data.draw(st.sampled_from([0.0, 0.3])),
        latency_metric=data.draw(st.sampled_from(["mean", "p95"])),
    )
    scenario = Scenario(
        error_delta=data.draw(st.sampled_from([0.0, 0.05])),
        error_relative=data.draw(st.sampled_from([0.0, 1.0])),
        latency_factor=data.draw(st.sampled_from([1.0, 1.3])),
        latency_delta_ms=data.draw(st.sampled_from([0.0, 30.0])),
        latency_tail_only=data.draw(st.booleans()),
        intermittent_q=data.draw(st.sampled_from([1.0, 0.5])),
        faults=gauge_faults(data.draw),
    )
    n = 32
    world = plan_counts_world(policy, service, noise)
    fault = plan_fault(policy, scenario)
    draws, (excess,) = draw_counts(data.draw(st.integers(0, 2**32)), 0, n, world, [fault])
    obs = observe_counts(draws, excess, world, fault)
    plan = plan_policy(policy)
    outcomes = RULES[plan.rule.kind].counts(obs, world, plan)
    served, excess_served = blast_radius(obs, outcomes)
    for i in range(n):
        row = {
            "healthy_canary_errors": draws.healthy_canary_errors[i].tolist(),
            "baseline_errors": draws.baseline_errors[i].tolist(),
            "excess_errors": excess[i].tolist(),
            "canary_latency_z": draws.canary_latency_z[i].tolist(),
            "baseline_latency_z": draws.baseline_latency_z[i].tolist(),
            "presence_u": None if draws.presence_u is None else draws.presence_u[i].tolist(),
        }
        for stat, (cz, bz) in draws.extra_latency_z.items():
            row[f"canary_latency_z:{stat}"] = cz[i].tolist()
            row[f"baseline_latency_z:{stat}"] = bz[i].tolist()
        for name, (cz, bz) in draws.gauge_z.items():
            row[f"canary_gauge_z:{name}"] = cz[i].tolist()
            row[f"baseline_gauge_z:{name}"] = bz[i].tolist()
        ref, ref_served, ref_excess = reference_counts_rollout(
            policy, service, noise, scenario, row
        )
        got = (
            *engine_outcome(outcomes, i, plan.metric_names),
            int(served[i]),
            int(excess_served[i]),
        )
        assert got == (
            ref.rolled_back,
            ref.decision_step,
            ref.decision_stage,
            ref.reason,
            ref.steps_run,
            ref_served,
            ref_excess,
        ), i


# --- theory --------------------------------------------------------------------------------


def gaussian_experiment(metrics, durations=(3, 4), gauges=None, rollouts=40_000, seed=3):
    return Experiment(
        seed=seed,
        rollouts=rollouts,
        policy=Policy(
            stages=[
                Stage(name=f"s{i}", traffic_pct=10 * (i + 1), duration_steps=d)
                for i, d in enumerate(durations)
            ],
            metrics=metrics,
        ),
        service=Service(error_rate=0.3, latency_ms=100.0, gauges=gauges or {}),
        noise=GaussianNoise(error_sigma=0.02, latency_sigma_ms=10.0),
    )


def test_absolute_limit_on_the_gaussian_model():
    # Canary latency base + sigma Z fails above 115 ms: rollback 1 - Phi(1.5)^7.
    experiment = gaussian_experiment(
        [Metric(name="p99", kind="latency", compare="absolute", max=115)]
    )
    got = run_experiment(experiment).scenarios[0].rollback.rate
    want = 1 - stats.norm.cdf((115 - 100) / 10) ** 7
    assert_close(got, want, experiment.rollouts, "absolute max")


def test_ratio_limit():
    # error rate 0.3 + 0.02 Z over 0.3 above 1.1: fails when Z > 1.5.
    experiment = gaussian_experiment(
        [Metric(name="err", kind="error_rate", compare="ratio", max=1.1)]
    )
    got = run_experiment(experiment).scenarios[0].rollback.rate
    want = 1 - stats.norm.cdf(0.03 / 0.02) ** 7
    assert_close(got, want, experiment.rollouts, "ratio")


def test_range_with_min_and_max():
    gauges = {"cpu": Gauge(mean=40.0, sigma=4.0)}
    metric = Metric(name="cpu", kind="gauge", compare="absolute", min=34.0, max=48.0)
    experiment = gaussian_experiment([metric], gauges=gauges)
    got = run_experiment(experiment).scenarios[0].rollback.rate
    inside = stats.norm.cdf(8 / 4) - stats.norm.cdf(-6 / 4)
    assert_close(got, 1 - inside**7, experiment.rollouts, "range")


def test_five_independent_metrics_multiply_their_pass_probabilities():
    limits = [42.0, 44.0, 45.0, 46.0, 48.0]
    gauges = {f"g{i}": Gauge(mean=40.0, sigma=4.0) for i in range(5)}
    metrics = [
        Metric(name=f"g{i}", kind="gauge", compare="absolute", max=limit)
        for i, limit in enumerate(limits)
    ]
    experiment = gaussian_experiment(metrics, durations=(1, 1), gauges=gauges)
    estimate = run_experiment(experiment).scenarios[0]
    passes = np.prod([stats.norm.cdf((limit - 40) / 4) ** 2 for limit in limits])
    assert_close(estimate.rollback.rate, 1 - passes, experiment.rollouts, "five metrics")
    # Each metric's share of first failures follows the order of the checks.
    assert sum(estimate.rollbacks_by_reason.values()) == estimate.rollback.events


def test_absolute_limit_on_counts_is_the_binomial_tail():
    # The canary's own errors at each step: fail when errors / n > 2% (n = 100 or 200).
    experiment = Experiment(
        seed=5,
        rollouts=40_000,
        policy=Policy(
            stages=[
                Stage(name="s10", traffic_pct=10, duration_steps=2),
                Stage(name="s20", traffic_pct=20, duration_steps=2),
            ],
            metrics=[Metric(name="err", kind="error_rate", compare="absolute", max=0.02)],
        ),
        service=Service(error_rate=0.01, latency_ms=100.0, requests_per_step=1000),
        noise=CountsNoise(model="counts"),
    )
    got = run_experiment(experiment).scenarios[0].rollback.rate
    pass_100 = stats.binom.cdf(2, 100, 0.01)  # 2/100 = 0.02 is not above the limit
    pass_200 = stats.binom.cdf(4, 200, 0.01)
    want = 1 - pass_100**2 * pass_200**2
    assert_close(got, want, experiment.rollouts, "binomial tail")


@pytest.mark.parametrize("model", ["gaussian", "counts"])
def test_success_rate_min_decides_as_error_rate_max(model):
    def run(metric):
        noise = (
            GaussianNoise(error_sigma=0.01, latency_sigma_ms=10.0)
            if model == "gaussian"
            else CountsNoise(model="counts", error_dispersion=0.3)
        )
        policy = Policy(
            stages=[
                Stage(name="s5", traffic_pct=5, duration_steps=3),
                Stage(name="s50", traffic_pct=50, duration_steps=3),
            ],
            metrics=[metric],
        )
        service = Service(
            error_rate=0.01,
            latency_ms=100.0,
            requests_per_step=None if model == "gaussian" else 2000,
        )
        return simulate_outcomes(
            policy=policy,
            service=service,
            noise=noise,
            scenario=Scenario(error_delta=0.005),
            n_rollouts=5000,
            seed=9,
        )

    success = run(
        Metric(name="ok", kind="success_rate", unit="percent", compare="absolute", min=98.5)
    )
    error = run(Metric(name="err", kind="error_rate", compare="absolute", max=0.015))
    assert 0 < success.rolled_back.mean() < 1
    for field in ("rolled_back", "decision_step", "steps_run"):
        np.testing.assert_array_equal(getattr(success, field), getattr(error, field))


# --- a fault where the baseline serves nothing -------------------------------------------------

NO_BASELINE_RULES = [
    {"kind": "threshold"},
    {"kind": "failure_limit", "failure_limit": 1, "scope": "rollout"},
    {"kind": "cumulative_checks", "threshold": 2},
    {"kind": "ztest", "alpha": 0.05, "correction": "pocock", "scope": "rollout"},
    {"kind": "msprt", "alpha": 0.05},
    {"kind": "sprt", "alpha": 0.05, "beta": 0.2},
    {"kind": "mannwhitney", "confidence": 0.98, "samples_per_step": 5},
]


@pytest.mark.parametrize("rule", NO_BASELINE_RULES, ids=[r["kind"] for r in NO_BASELINE_RULES])
def test_fault_without_a_baseline_is_invisible_under_hold(rule):
    # Issue 13, item 1: the fault exists only at 100% traffic, where baseline: rest serves
    # nothing; with no_data: hold, no rule may see it.
    policy = Policy.model_validate(
        {
            "rule": rule,
            "no_data": "hold",
            "stages": [
                {"name": "s10", "traffic_pct": 10, "duration_steps": 4, "error_threshold": 0.01},
                {"name": "s100", "traffic_pct": 100, "duration_steps": 4, "error_threshold": 0.01},
            ],
        }
    )
    common = {
        "policy": policy,
        "service": Service(error_rate=0.01, latency_ms=100.0, requests_per_step=2000),
        "noise": CountsNoise(model="counts"),
        "n_rollouts": 4096,
        "seed": 11,
    }
    healthy = simulate_outcomes(scenario=Scenario(), **common)
    faulty = simulate_outcomes(scenario=Scenario(error_delta=0.02, min_traffic_pct=100), **common)
    for field in ("rolled_back", "decision_step", "reason", "steps_run"):
        np.testing.assert_array_equal(getattr(faulty, field), getattr(healthy, field))


@given(data=st.data(), rule=rules)
def test_engine_draws_only_the_signals_it_reads_and_gets_the_same_outcomes(data, rule):
    # The driver skips the error or latency stream when no metric reads it; each signal
    # has its own stream, so outcomes equal those on the full draws.
    policy = data.draw(metric_policies(_rule(rule)))
    service = Service(error_rate=0.01, latency_ms=100.0, gauges=GAUGES)
    noise = GaussianNoise(error_sigma=0.005, latency_sigma_ms=10.0)
    scenario = Scenario(error_delta=0.005, latency_delta_ms=5.0)
    n = 300
    got = simulate_outcomes(
        policy=policy, service=service, noise=noise, scenario=scenario, n_rollouts=n, seed=4
    )
    gauges = tuple(c.name for c in policy.checks if c.kind == "gauge")
    draws = draw_gaussian(4, 0, n, policy.max_steps, gauges=gauges)
    want = rollout_outcomes(
        draws, plan_world(policy, service, noise, scenario), plan_policy(policy)
    )
    for field in ("rolled_back", "decision_step", "reason", "steps_run"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field))


def test_counts_gauge_ztest_one_look_has_size_alpha():
    # Both sides measure the gauge with sigma: (canary - baseline) / sqrt(2 sigma^2) is
    # standard normal under H0, so one look at alpha = 0.05 fires 5% of the time.
    experiment = Experiment(
        seed=8,
        rollouts=40_000,
        policy=Policy(
            stages=[Stage(name="s50", traffic_pct=50, duration_steps=1)],
            rule={"kind": "ztest", "alpha": 0.05, "correction": "none"},
            metrics=[Metric(name="cpu", kind="gauge", compare="delta")],
        ),
        service=Service(error_rate=0.01, latency_ms=100.0, requests_per_step=100, gauges=GAUGES),
        noise=CountsNoise(model="counts"),
    )
    got = run_experiment(experiment).scenarios[0].rollback.rate
    assert_close(got, 0.05, experiment.rollouts, "gauge z-test size")


def test_counts_cumulative_checks_on_an_absolute_limit_is_the_binomial_tail():
    # threshold 1: the first failed check rolls back, each passing check advances, so the
    # rollback rate is the binomial tail of the threshold rule (held schedule, own stream).
    experiment = Experiment(
        seed=6,
        rollouts=40_000,
        policy=Policy(
            stages=[
                Stage(name="s10", traffic_pct=10, duration_steps=2),
                Stage(name="s20", traffic_pct=20, duration_steps=2),
            ],
            rule={"kind": "cumulative_checks", "threshold": 1},
            metrics=[
                Metric(name="ok", kind="success_rate", unit="percent", compare="absolute", min=98)
            ],
        ),
        service=Service(error_rate=0.01, latency_ms=100.0, requests_per_step=1000),
        noise=CountsNoise(model="counts"),
    )
    got = run_experiment(experiment).scenarios[0].rollback.rate
    pass_100 = stats.binom.cdf(2, 100, 0.01)  # 98% success: at most 2 errors in 100
    pass_200 = stats.binom.cdf(4, 200, 0.01)
    assert_close(got, 1 - pass_100**2 * pass_200**2, experiment.rollouts, "held binomial tail")
