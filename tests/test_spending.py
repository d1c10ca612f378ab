"""Alpha spending by information fraction: boundaries against independent theory, and
the counts z-test's real size against exact dynamic programming (tests/exact_counts.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from exact_counts import exact_size, msprt_decision, ztest_decision
from scipy import stats

from canary_mc.engine.core.schedule import plan_fault, plan_policy
from canary_mc.engine.noise.counts import draw_counts, observe_counts, plan_counts_world
from canary_mc.engine.rules.boundaries import (
    critical_values,
    crossing_probability,
    look_critical_values,
)
from canary_mc.engine.rules.rules_counts import counts_sum_test
from canary_mc.engine.rules.spending import (
    SPENDING_CORRECTIONS,
    crossing_probability_info,
    spending_critical_values,
    spent,
)
from canary_mc.model import CountsNoise, Policy, Scenario, Service


@pytest.mark.parametrize("correction", SPENDING_CORRECTIONS)
@pytest.mark.parametrize("looks", [1, 2, 5, 12])
def test_equal_information_spends_exactly_by_the_function(correction, looks):
    """Equal looks: AMR's recursion (engine/boundaries, written for equal increments)
    gives P(crossed by look k) = f(k / K) for every k, so the level is alpha."""
    c = spending_critical_values(correction, tuple(range(1, looks + 1)), 0.05)
    want = spent(correction, np.arange(1, looks + 1) / looks, 0.05)
    for k in range(1, looks + 1):
        bounds = tuple(min(x, 40.0) for x in c[:k])  # inf: no crossing, 40 sd is the same
        assert crossing_probability(bounds) == pytest.approx(want[k - 1], abs=1e-9)
    assert critical_values(correction, looks, 0.05) == c


def test_spending_functions_are_lan_demets():
    """f(1) = alpha, f increasing; OBF-type = 2 - 2 Phi(z_{alpha/2} / sqrt t)."""
    t = np.linspace(0.01, 1, 100)
    for correction in SPENDING_CORRECTIONS:
        f = spent(correction, t, 0.05)
        assert f[-1] == pytest.approx(0.05, abs=1e-15) and np.all(np.diff(f) > 0)
    want = 2 * stats.norm.sf(stats.norm.isf(0.025) / np.sqrt(t))
    np.testing.assert_allclose(spent("obrien_fleming_spending", t, 0.05), want, rtol=1e-12)
    np.testing.assert_allclose(
        spent("pocock_spending", t, 0.05), 0.05 * np.log(1 + (math.e - 1) * t), rtol=1e-12
    )


@pytest.mark.parametrize("correction", SPENDING_CORRECTIONS)
@pytest.mark.parametrize(
    "information", [(1.0, 6.0, 31.0, 81.0), (2.0, 2.5, 30.0, 31.0, 200.0), (5.0, 5.0, 9.0)]
)
def test_unequal_information_level_is_alpha_by_multivariate_normal(correction, information):
    """The canonical joint distribution, corr(Z_j, Z_k) = sqrt(I_j / I_k): scipy's
    multivariate normal CDF (Genz) gives 1 - P(all Z_k <= c_k) = alpha. A repeated
    information value is a look without news: its critical value is inf."""
    c = spending_critical_values(correction, information, 0.05)
    info = np.array(information)
    keep = np.isfinite(c)
    news = np.diff(np.concatenate([[0.0], info]))
    assert all(math.isinf(x) for x, d in zip(c, news, strict=True) if d == 0)
    i = info[keep]
    cov = np.sqrt(np.minimum.outer(i, i) / np.maximum.outer(i, i))
    level = 1 - stats.multivariate_normal.cdf(
        np.array(c)[keep], np.zeros(i.size), cov, abseps=1e-7, releps=1e-7, maxpts=10**6
    )
    assert level == pytest.approx(0.05, abs=5e-6)
    assert crossing_probability_info(c, information) == pytest.approx(0.05, abs=1e-7)


# --- the two traffic plans, exact sizes by dynamic programming ----------------------

ROWS = {
    # requests per step, error rate, traffic per stage (4 steps each)
    "small": (200, 0.001, (10.0, 25.0, 50.0)),
    "unequal": (2000, 0.01, (1.0, 5.0, 25.0, 50.0)),
}

AUDIT = {  # the independent audit (exact DP), nominal alpha = 0.05
    "small": {"none": 0.196, "bonferroni": 0.065, "pocock": 0.104, "obrien_fleming": 0.053},
    "unequal": {"none": 0.346, "bonferroni": 0.072, "pocock": 0.131, "obrien_fleming": 0.088},
}
AUDIT_MSPRT = {"small": 0.014, "unequal": 0.038}


def plan(row):
    n, _, pcts = ROWS[row]
    cn = [round(n * q / 100) for q in pcts for _ in range(4)]
    return cn, [n - c for c in cn]


@pytest.mark.parametrize("row", ROWS)
def test_exact_dp_reproduces_the_audit(row):
    """Our DP and the engine's critical values give the audit's figures to 3 dp."""
    cn, bn = plan(row)
    p = ROWS[row][1]
    for correction, want in AUDIT[row].items():
        c = critical_values(correction, len(cn), 0.05)
        assert exact_size(cn, bn, p, ztest_decision(c)) == pytest.approx(want, abs=6e-4)
    got = exact_size(cn, bn, p, msprt_decision(0.05, 1.0, 1 / cn[0] + 1 / bn[0]))
    assert got == pytest.approx(AUDIT_MSPRT[row], abs=6e-4)


def information(cn: list[int], bn: list[int]) -> np.ndarray:
    """``1 / (1/N_c + 1/N_b)`` of the cumulative requests (every step has data here)."""
    return 1.0 / (1.0 / np.cumsum(cn) + 1.0 / np.cumsum(bn))


def test_large_count_limit_of_pocock_on_the_unequal_plan():
    """Normal theory alone (no small counts): Pocock's equal-look constant gives 0.073 on
    the 1/5/25/50% plan, the spending version 0.05."""
    cn, bn = plan("unequal")
    info = tuple(information(cn, bn).tolist())
    pocock = crossing_probability_info(critical_values("pocock", 16, 0.05), info)
    assert pocock == pytest.approx(0.073, abs=5e-4)
    c = look_critical_values("pocock_spending", 0.05, np.array(info))
    assert crossing_probability_info(c, info) == pytest.approx(0.05, abs=1e-7)


@pytest.mark.parametrize("row", ROWS)
def test_obf_spending_size_is_alpha_on_both_rows(row):
    """The engine's counts z-test with obrien_fleming_spending: its simulated false-alarm
    rate equals the exact DP size within 4 SE, and is alpha within 4 SE (20,000
    rollouts, SE 0.0015). Exact sizes: 0.0446 (small counts), 0.0533 (unequal)."""
    n_rollouts, alpha = 20_000, 0.05
    n, p, pcts = ROWS[row]
    policy = Policy.model_validate(
        {
            "stages": [
                {"name": f"s{i}", "traffic_pct": q, "duration_steps": 4} for i, q in enumerate(pcts)
            ],
            "rule": {"kind": "ztest", "alpha": alpha, "correction": "obrien_fleming_spending"},
            "metrics": [{"name": "error", "kind": "error_rate"}],  # the error metric only
        }
    )
    service = Service(error_rate=p, latency_ms=100, requests_per_step=n)
    world = plan_counts_world(policy, service, CountsNoise(model="counts"))
    fault = plan_fault(policy, Scenario())
    draws, (excess,) = draw_counts(17, 0, n_rollouts, world, [fault])
    obs = observe_counts(draws, excess, world, fault)
    rate = counts_sum_test(obs, world, plan_policy(policy)).rolled_back.mean()
    cn, bn = plan(row)
    assert (cn, bn) == (
        world.traffic.canary_requests.tolist(),
        world.traffic.baseline_requests.tolist(),
    )
    info = information(cn, bn)
    exact = exact_size(cn, bn, p, ztest_decision(look_critical_values(
        "obrien_fleming_spending", alpha, info)))  # fmt: skip
    se = math.sqrt(exact * (1 - exact) / n_rollouts)
    assert abs(rate - exact) < 4 * se
    assert abs(rate - alpha) < 4 * math.sqrt(alpha * (1 - alpha) / n_rollouts)
    assert abs(exact - alpha) < 0.006


def counts_experiment(row: str, correction: str, scope: str = "rollout"):
    from canary_mc.model import Experiment

    n, p, pcts = ROWS[row]
    return Experiment(
        policy=Policy.model_validate(
            {
                "stages": [
                    {"name": f"s{i}", "traffic_pct": q, "duration_steps": 4,
                     "error_threshold": 0.01}
                    for i, q in enumerate(pcts)
                ],
                "rule": {"kind": "ztest", "correction": correction, "scope": scope},
            }
        ),
        service=Service(error_rate=p, latency_ms=100, requests_per_step=n),
        noise=CountsNoise(model="counts"),
    )  # fmt: skip


def test_caveats_name_the_corrections_whose_level_is_known_wrong():
    """Pocock/OBF constants on the unequal plan warn (0.073 even at large counts) and
    point to obrien_fleming_spending; a first look expecting fewer than 5 canary errors
    warns for every correction with a promised level."""
    from canary_mc.model.caveats import experiment_caveats

    locs = {c.loc: c.message for c in experiment_caveats(counts_experiment("unequal", "pocock"))}
    assert "use correction: obrien_fleming_spending" in locs[("policy", "rule", "correction")]
    assert "differ by up to 25.3x" in locs[("policy", "rule", "correction")]  # 0.25 / 0.0099
    assert "expects 0.2 errors at the first look" in locs[("service", "requests_per_step")]
    spending = experiment_caveats(counts_experiment("unequal", "obrien_fleming_spending"))
    assert [c.loc for c in spending] == [("service", "requests_per_step")]
    assert experiment_caveats(counts_experiment("unequal", "none")) == ()
    # One stage per analysis: every look of a stage carries the same information.
    staged = experiment_caveats(counts_experiment("unequal", "pocock", scope="stage"))
    assert [c.loc for c in staged] == [("service", "requests_per_step")]


def test_caveats_follow_the_policys_metrics():
    """A latency metric's looks differ by the same ratio as the error rate's (its null
    variance per step is the inverse), so Pocock's constant still warns; with no rate
    metric there is no pooled z, so no few-errors caveat; gauges alone have equal looks.
    Given ``requests_per_second``, the few-errors caveat points at it."""
    from canary_mc.model import Experiment
    from canary_mc.model.caveats import experiment_caveats

    def caveats(metrics, correction="pocock", service=None):
        n, p, pcts = ROWS["unequal"]
        return experiment_caveats(
            Experiment.model_validate(
                {
                    "policy": {
                        "interval": "1m",
                        "stages": [
                            {"name": f"s{i}", "traffic_pct": q, "duration_steps": 4}
                            for i, q in enumerate(pcts)
                        ],
                        "rule": {"kind": "ztest", "correction": correction},
                        "metrics": metrics,
                    },
                    "service": service
                    or {
                        "error_rate": p,
                        "latency_ms": 100,
                        "requests_per_step": n,
                        "gauges": {"cpu": {"mean": 40, "sigma": 3}},
                    },
                    "noise": {"model": "counts"},
                }
            )
        )

    latency = caveats([{"name": "lat", "kind": "latency", "stat": "p99"}])
    assert [c.loc for c in latency] == [("policy", "rule", "correction")]
    assert caveats([{"name": "cpu", "kind": "gauge"}]) == ()
    by_rps = {"error_rate": ROWS["unequal"][1], "latency_ms": 100, "requests_per_second": 2000 / 60}
    (few,) = caveats([{"name": "err", "kind": "error_rate"}], "obrien_fleming_spending", by_rps)
    assert few.loc == ("service", "requests_per_second")
    assert "metric 'err'" in few.message
