"""Latency evidence of the statistical rules on counts: exact under H0 at any traffic.

The normal scores are checked against scipy's beta and lognormal distributions; the
z-test's false-alarm rate on latency alone is checked against its nominal level for the
mean, p50 and p99 at 180/20, 20/180 and 1000/1000 requests (Pocock, 10 looks: exact for
normal increments of known variance)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from canary_mc.engine.core.schedule import plan_fault, plan_policy
from canary_mc.engine.noise.counts import (
    CountsWorldPlan,
    draw_counts,
    latency_metric,
    observe_counts,
    plan_counts_world,
)
from canary_mc.engine.rules.latency_null import latency_scores
from canary_mc.engine.rules.rules_counts import counts_sum_test
from canary_mc.model import CountsNoise, Policy, Scenario, Service


def world_of(quantile):
    return CountsWorldPlan(
        traffic=None, error_rate=0.01, common_sigma=0.0, own_sigma=0.0,
        latency_ms=100.0, latency_log_sigma=0.5, quantile=quantile,
    )  # fmt: skip


@pytest.mark.parametrize("n", [1, 20, 179, 10**6])
@pytest.mark.parametrize("quantile", [Fraction(1, 2), Fraction(99, 100)])
def test_quantile_scores_are_the_beta_probability_transform(n, quantile):
    """zeta = Phi^{-1}(P(X_(k) <= x)), X_(k) the k-th of n lognormals, k = ceil(q n):
    P(X_(k) <= x) = BetaCDF(Phi(ln(x/m)/s); k, n + 1 - k) by scipy."""
    k = math.ceil(quantile * n)
    # Through the spline (|score| <= 9) and beyond it (exact betainc): 1e-25 is -10.4 sd.
    u = stats.beta(k, n + 1 - k).ppf([1e-25, 1e-6, 0.01, 0.3, 0.5, 0.8, 0.999, 1 - 1e-12])
    x = 100.0 * np.exp(0.5 * stats.norm.ppf(u))
    got = latency_scores(x, np.array(n), world_of(quantile))
    want = stats.norm.ppf(stats.beta(k, n + 1 - k).cdf(stats.norm.cdf(np.log(x / 100) / 0.5)))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert got[0] < -9  # scored exactly, not clamped to the spline's end


def test_mean_scores_invert_the_models_lognormal_mean():
    """The mean metric of n requests is the model's lognormal (Fenton-Wilkinson): the
    score of the metric drawn from z is z itself."""
    z = np.linspace(-5, 5, 41)
    for n in (1, 20, 1000):
        x = latency_metric(z, np.array(n), 100.0, 0.5, None)
        np.testing.assert_allclose(latency_scores(x, np.array(n), world_of(None)), z, atol=1e-9)


def healthy_latency_rate(metric: str, traffic_pct: float, requests: int, n_rollouts: int):
    policy = Policy.model_validate(
        {
            "stages": [{"name": "a", "traffic_pct": traffic_pct, "duration_steps": 10}],
            "rule": {"kind": "ztest", "alpha": 0.05, "correction": "pocock"},
            "metrics": [{"name": "latency", "kind": "latency"}],  # latency evidence only
        }
    )  # fmt: skip
    service = Service(error_rate=0.01, latency_ms=100, requests_per_step=requests)
    world = plan_counts_world(policy, service, CountsNoise(model="counts", latency_metric=metric))
    fault = plan_fault(policy, Scenario())
    draws, (excess,) = draw_counts(23, 0, n_rollouts, world, [fault])
    obs = observe_counts(draws, excess, world, fault)
    sides = (int(world.traffic.canary_requests[0]), int(world.traffic.baseline_requests[0]))
    return counts_sum_test(obs, world, plan_policy(policy)).rolled_back.mean(), sides


@pytest.mark.parametrize("metric", ["mean", "p50", "p99"])
@pytest.mark.parametrize(
    ("traffic_pct", "requests", "sides"),
    [(90.0, 200, (180, 20)), (10.0, 200, (20, 180)), (50.0, 2000, (1000, 1000))],
)
def test_latency_ztest_size_is_alpha_at_unequal_request_counts(
    metric, traffic_pct, requests, sides
):
    """Before the normal scores, p99 at 180/20 gave 14.8% and p50 6.6% here."""
    n_rollouts, alpha = 8000, 0.05
    rate, got_sides = healthy_latency_rate(metric, traffic_pct, requests, n_rollouts)
    assert got_sides == sides
    assert abs(rate - alpha) < 4 * math.sqrt(alpha * (1 - alpha) / n_rollouts), rate


@pytest.mark.parametrize("where", ["noise default", "metric stat"])
def test_counts_sprt_on_p99_latency_at_180_20_has_the_normal_sprts_exact_level(where):
    """The held-schedule SPRT on counts uses the same evidence: at 180/20 requests its
    latency false-alarm rate equals the exact level of Wald's SPRT on N(0, v) increments
    (lattice DP without clamp, tests/exact_clamped.py) within 4 SE. p99 is either the
    noise model's own statistic (the shorthand, whose error test is made inert: at
    p0 = 1e-9 it accepts within two steps and never sees an error) or a latency metric's
    ``stat: p99`` on a mean-metric noise model (drawn on its own streams)."""
    from exact_clamped import clamped_level

    from canary_mc.engine.rules.rules_counts import latency_metric_variance, simulate_counts_held
    from canary_mc.engine.rules.rules_gaussian import sprt_bounds

    looks, n_rollouts = 200, 8000
    rule = {"kind": "sprt", "alpha": 0.05, "beta": 0.2, "min_latency_increase_ms": 70.0}
    if where == "noise default":
        stages = [{"name": "a", "traffic_pct": 90, "duration_steps": looks,
                   "error_threshold": 0.01}]  # fmt: skip
        policy = Policy.model_validate({"stages": stages, "rule": rule})
        noise = CountsNoise(model="counts", latency_metric="p99")
    else:
        stages = [{"name": "a", "traffic_pct": 90, "duration_steps": looks}]
        metrics = [{"name": "tail", "kind": "latency", "stat": "p99"}]
        policy = Policy.model_validate({"stages": stages, "rule": rule, "metrics": metrics})
        noise = CountsNoise(model="counts", latency_metric="mean")
    service = Service(error_rate=1e-9, latency_ms=100, requests_per_step=200)
    world = plan_counts_world(policy, service, noise).with_stat("p99")
    out, _, _ = simulate_counts_held(
        29, 0, n_rollouts, policy, service, plan_counts_world(policy, service, noise),
        plan_policy(policy), {"h": Scenario()},
    )["h"]  # fmt: skip
    v = float(latency_metric_variance(np.array(180), world) + latency_metric_variance(
        np.array(20), world))  # fmt: skip
    delta = 70.0 / math.sqrt(v)  # H1's increase in units of the evidence's sd
    upper, lower = sprt_bounds(policy.rule, 1.0, delta, looks)
    exact = clamped_level(50.0, upper, lower, h=0.02, strict=False)
    rate = float(out.rolled_back.mean())
    assert abs(rate - exact) < 4 * math.sqrt(exact * (1 - exact) / n_rollouts), (rate, exact)
    assert exact < 0.05 / 0.8  # Wald's bound


@pytest.mark.parametrize("correction", ["obrien_fleming_spending", "pocock_spending"])
@pytest.mark.parametrize("stat", ["mean", "p99"])
def test_spending_on_a_latency_metric_holds_alpha_on_unequal_looks(stat, correction):
    """Each latency metric is spent on its own information ``sum v`` (``latency_z``): on
    stages 1/5/25/50% (looks of very unequal information) a spending correction on a
    latency metric read through ``stat`` (an extra statistic of a mean-metric noise
    model for p99) keeps level alpha within 4 SE; the evidence is exactly normal and the
    boundaries spend exactly alpha on that information sequence. Spent on the error
    rate's information ``1/(1/N_c + 1/N_b)`` instead, the normal-theory levels would be
    0.038 and 0.020; Pocock's equal-look constant gives 0.033."""
    n_rollouts, alpha = 8000, 0.05
    policy = Policy.model_validate(
        {
            "stages": [
                {"name": f"s{i}", "traffic_pct": q, "duration_steps": 4}
                for i, q in enumerate((1, 5, 25, 50))
            ],
            "rule": {"kind": "ztest", "alpha": alpha, "correction": correction},
            "metrics": [{"name": "lat", "kind": "latency", "stat": stat}],
        }
    )
    service = Service(error_rate=0.01, latency_ms=100, requests_per_step=2000)
    world = plan_counts_world(policy, service, CountsNoise(model="counts", latency_metric="mean"))
    fault = plan_fault(policy, Scenario())
    draws, (excess,) = draw_counts(31, 0, n_rollouts, world, [fault])
    obs = observe_counts(draws, excess, world, fault)
    rate = counts_sum_test(obs, world, plan_policy(policy)).rolled_back.mean()
    assert abs(rate - alpha) < 4 * math.sqrt(alpha * (1 - alpha) / n_rollouts), rate
