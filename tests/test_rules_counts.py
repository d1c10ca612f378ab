"""The rules on the counts model against independent references: scipy, exact binomial
enumeration, Wald's bounds, Ville's inequality, and scalar references on the same draws."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from conftest import engine_outcome, reference_outcome
from scipy import stats

from canary_mc.engine.core.schedule import plan_fault, plan_policy
from canary_mc.engine.noise.counts import draw_counts, observe_counts, plan_counts_world
from canary_mc.engine.rules.boundaries import critical_values
from canary_mc.engine.rules.registry import RULES
from canary_mc.engine.rules.rules_counts import simulate_counts_held
from canary_mc.engine.simulate import simulate_outcomes
from canary_mc.model import CountsNoise, Policy, Scenario, Service
from canary_mc.reference_rules import reference_counts_sprt, reference_counts_ztest


def decide_fixed(obs, world, plan):
    """A fixed-schedule rule on counts, looked up in the registry as the engine does."""
    return RULES[plan.rule.kind].counts(obs, world, plan)


def policy_of(rule: dict, durations=(1,), traffic=(20.0,)) -> Policy:
    return Policy.model_validate(
        {
            "stages": [
                {"name": f"s{i}", "traffic_pct": p, "duration_steps": d, "error_threshold": 0.01}
                for i, (d, p) in enumerate(zip(durations, traffic, strict=True))
            ],
            "rule": rule,
        }
    )


SERVICE = Service(error_rate=0.05, latency_ms=100, requests_per_step=1000)
NOISE = CountsNoise(model="counts")


def error_only(policy, service, scenario, n, seed=11):
    """Counts observations with both latency metrics equal, so only errors can fire."""
    world = plan_counts_world(policy, service, NOISE)
    fault = plan_fault(policy, scenario)
    draws, (excess,) = draw_counts(seed, 0, n, world, [fault])
    obs = observe_counts(draws, excess, world, fault)
    same = np.zeros(obs.canary_errors.shape)
    return dataclasses.replace(obs, canary_latency_ms=same, baseline_latency_ms=same), world


def test_counts_ztest_single_look_equals_scipy_per_rollout_and_exact_enumeration():
    """One look: the engine rolls back exactly when scipy's one-sided p-value of the pooled
    two-proportion z is below alpha; the rate matches the exact binomial enumeration of
    the same test within 4 SE."""
    alpha = 0.05
    policy = policy_of({"kind": "ztest", "alpha": alpha})
    n = 40_000
    obs, world = error_only(policy, SERVICE, Scenario(), n)
    out = decide_fixed(obs, world, plan_policy(policy))
    ec, eb = obs.canary_errors[:, 0], obs.baseline_errors[:, 0]
    nc, nb = int(obs.canary_requests[0, 0]), int(obs.baseline_requests[0, 0])
    assert (nc, nb) == (200, 800)
    pooled = (ec + eb) / (nc + nb)
    z = (ec / nc - eb / nb) / np.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nb))
    assert np.array_equal(out.rolled_back, stats.norm.sf(z) < alpha)
    # Exact level of this discrete test: sum over all (e_c, e_b) of P * 1[reject].
    e1, e2 = np.meshgrid(np.arange(nc + 1), np.arange(nb + 1), indexing="ij")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (e1 + e2) / (nc + nb)
        zz = (e1 / nc - e2 / nb) / np.sqrt(p * (1 - p) * (1 / nc + 1 / nb))
    weight = np.outer(
        stats.binom.pmf(np.arange(nc + 1), nc, 0.05), stats.binom.pmf(np.arange(nb + 1), nb, 0.05)
    )
    exact = float(weight[np.nan_to_num(zz, nan=-np.inf) > stats.norm.isf(alpha)].sum())
    rate = out.rolled_back.mean()
    se = math.sqrt(exact * (1 - exact) / n)
    assert abs(rate - exact) < 4 * se
    assert abs(exact - alpha) < 0.01  # discreteness moves the level only slightly here


def test_counts_ztest_matches_its_scalar_reference_exactly():
    for rule in (
        {"kind": "ztest", "alpha": 0.05, "correction": "pocock", "scope": "rollout"},
        {"kind": "ztest", "alpha": 0.2, "correction": "obrien_fleming", "scope": "stage"},
        {"kind": "ztest", "alpha": 0.1, "correction": "none", "scope": "stage"},
        {"kind": "ztest", "alpha": 0.1, "correction": "pocock_spending", "scope": "rollout"},
        {"kind": "ztest", "alpha": 0.2, "correction": "obrien_fleming_spending", "scope": "stage"},
    ):
        policy = policy_of(rule, durations=(3, 4, 2), traffic=(1.0, 10.0, 50.0))
        service = Service(error_rate=0.02, latency_ms=100, requests_per_step=300)
        scenario = Scenario(error_delta=0.01, onset_stage=1)
        obs, world = error_only(policy, service, scenario, 3000, seed=5)
        out = decide_fixed(obs, world, plan_policy(policy))
        for i in range(3000):
            counts = list(
                zip(
                    obs.canary_errors[i].tolist(),
                    obs.canary_requests[i].tolist(),
                    obs.baseline_errors[i].tolist(),
                    obs.baseline_requests[i].tolist(),
                    strict=True,
                )
            )
            ref = reference_counts_ztest(policy, counts)
            got = engine_outcome(out, i)
            assert got == reference_outcome(ref), i


def test_counts_msprt_stays_under_alpha_over_150_looks_where_repeated_ztest_does_not():
    """Normal-mixture mSPRT on the pooled z: always valid (Ville) for Gaussian increments,
    asymptotically for counts; at 200/800 requests per look it holds alpha + 3 SE."""
    n, looks, alpha = 6000, 150, 0.05
    msprt = policy_of({"kind": "msprt", "alpha": alpha, "tau": 1.0}, durations=(looks,))
    ztest = policy_of({"kind": "ztest", "alpha": alpha}, durations=(looks,))
    obs, world = error_only(msprt, SERVICE, Scenario(), n)
    fa = decide_fixed(obs, world, plan_policy(msprt)).rolled_back.mean()
    naive = decide_fixed(obs, world, plan_policy(ztest)).rolled_back.mean()
    assert fa <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / n)
    assert naive > 0.3  # AMR: about 0.37 at K = 150 one-sided


def sprt_policy(durations, alpha=0.05, beta=0.2, increase=0.02):
    return policy_of(
        {
            "kind": "sprt",
            "alpha": alpha,
            "beta": beta,
            "min_error_increase": increase,
            "min_latency_increase_ms": 1e6,  # latency test accepts at its first look
        },
        durations=durations,
        traffic=tuple(10.0 * (i + 1) for i in range(len(durations))),
    )


def held(policy, scenario, n, seed=3, record=False, service=None):
    service = service or Service(error_rate=0.05, latency_ms=100, requests_per_step=200)
    world = plan_counts_world(policy, service, NOISE)
    return simulate_counts_held(
        seed, 0, n, policy, service, world, plan_policy(policy), {"s": scenario}, record=record
    )["s"]


def test_binomial_sprt_respects_walds_bounds():
    """One long stage, p0 = 0.05 and p1 = 0.07, 20 canary requests a step: alpha' <=
    alpha / (1 - beta) and beta' <= beta / (1 - alpha) (4 SE slack), with H1 true at p1."""
    alpha, beta, n = 0.05, 0.2, 8000
    policy = sprt_policy((400,), alpha, beta)
    fa = held(policy, Scenario(), n)[0].rolled_back.mean()
    miss = 1 - held(policy, Scenario(error_delta=0.02), n)[0].rolled_back.mean()
    assert fa <= alpha / (1 - beta) + 4 * math.sqrt(0.0625 * 0.9375 / n)
    assert miss <= beta / (1 - alpha) + 4 * math.sqrt(0.21 * 0.79 / n)
    assert fa > 0.01 and miss > 0.05  # the bounds are approached, not trivially met


def test_counts_sprt_matches_its_scalar_reference_on_recorded_draws():
    """The stage pointer, early acceptance and traffic per stage agree with a plain walk."""
    policy = sprt_policy((3, 5, 4), alpha=0.1, beta=0.3, increase=0.05)
    service = Service(error_rate=0.05, latency_ms=100, requests_per_step=200)
    from canary_mc.engine.rules.rules_counts import stage_traffic

    traffic = stage_traffic(policy, service).canary_requests.tolist()
    for scenario in (Scenario(), Scenario(error_delta=0.03, onset_stage=1, onset_step=1)):
        out, _, rec = held(policy, scenario, 1500, record=True, service=service)
        for i in range(1500):
            last = int(out.steps_run[i])
            counts = list(
                zip(
                    rec.canary_errors[i, :last].tolist(),
                    rec.canary_requests[i, :last].tolist(),
                    rec.baseline_errors[i, :last].tolist(),
                    rec.baseline_requests[i, :last].tolist(),
                    strict=True,
                )
            )
            ref = reference_counts_sprt(policy, service.error_rate, counts, traffic)
            got = engine_outcome(out, i)
            want = (ref.rolled_back, ref.decision_step, ref.decision_stage, ref.reason)
            assert got[:4] == want and got[4] == ref.steps_run, i


def test_held_counts_rules_do_not_depend_on_chunking():
    service = Service(error_rate=0.02, latency_ms=100, requests_per_step=500)
    scenario = Scenario(error_relative=1.0, intermittent_q=0.5, min_traffic_pct=20)
    for rule in ({"kind": "cumulative_checks", "threshold": 2}, {"kind": "sprt"}):
        policy = policy_of(rule, durations=(2, 3), traffic=(10.0, 50.0))
        runs = [
            simulate_outcomes(
                policy=policy,
                service=service,
                noise=NOISE,
                scenario=scenario,
                n_rollouts=5000,
                seed=9,
                chunk_rollouts=chunk,
            )
            for chunk in (1, 4096 * 2)
        ]
        for field in ("rolled_back", "decision_step", "reason", "steps_run"):
            assert np.array_equal(getattr(runs[0], field), getattr(runs[1], field))
        assert runs[0].rolled_back.mean() > 0


def test_critical_values_are_shared_not_reimplemented():
    # The counts ztest uses the same critical values as the Gaussian one (checked there
    # against AMR and Jennison-Turnbull); a single look is the normal quantile.
    assert critical_values("none", 1, 0.05)[0] == stats.norm.isf(0.05) or math.isclose(
        critical_values("none", 1, 0.05)[0], stats.norm.isf(0.05), rel_tol=1e-12
    )
