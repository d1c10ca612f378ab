"""Each rule against theory it did not produce: closed forms, published tables, scipy.

Monte Carlo comparisons allow 4 standard errors (SE = sqrt(p (1 - p) / n)) unless stated.
The Gaussian model with a large baseline (error_rate 0.5, sigma 0.005) never clamps in
practice (the clamp needs z < -100), so the deltas are exactly N(effect, sigma^2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from canary_mc.engine.noise.draws import draw_gaussian
from canary_mc.engine.rules.boundaries import critical_values, crossing_probability
from canary_mc.engine.simulate import simulate_outcomes
from canary_mc.model import GaussianNoise, Policy, Scenario, Service, Stage

TOLERANCE_SE = 4.0
SERVICE = Service(error_rate=0.5, latency_ms=100)
QUIET_LATENCY = 0.0  # latency sigma 0: the latency metric never fails, never adds evidence
NOISE = GaussianNoise(error_sigma=0.005, latency_sigma_ms=QUIET_LATENCY)
HEALTHY = Scenario()


def policy_of(durations, rule, error_threshold=0.005) -> Policy:
    return Policy(
        stages=[
            Stage(
                name=f"s{i}",
                traffic_pct=min(100, 10 * (i + 1)),
                duration_steps=d,
                error_threshold=error_threshold,
            )
            for i, d in enumerate(durations)
        ],
        rule=rule,
    )


def run(policy, scenario=HEALTHY, n=20_000, seed=7, noise=NOISE):
    return simulate_outcomes(
        policy=policy, service=SERVICE, noise=noise, scenario=scenario, n_rollouts=n, seed=seed
    )


def assert_rate(hits: int, n: int, expected: float, tol_se: float = TOLERANCE_SE) -> None:
    se = math.sqrt(max(expected * (1 - expected), 1e-12) / n)
    assert abs(hits / n - expected) <= tol_se * se, (hits / n, expected, se)


def fail_probability(threshold: float, sigma: float = 0.005) -> float:
    """P(one error check fails) = P(sigma Z > threshold)."""
    return float(stats.norm.sf(threshold / sigma))


# --- failure_limit: binomial and run-length closed forms ------------------------------------


def run_probability(n_trials: int, run: int, p: float) -> float:
    """P(some run of >= ``run`` failures in ``n_trials`` Bernoulli(p) trials), by the exact
    recursion over the length of the current run of failures."""
    state = [1.0] + [0.0] * (run - 1)  # P(current run length = j, no long run yet)
    for _ in range(n_trials):
        new = [0.0] * run
        new[0] = (1 - p) * sum(state)
        for j in range(run - 1):
            new[j + 1] = p * state[j]
        state = new
    return 1.0 - sum(state)


@pytest.mark.parametrize(
    ("scope", "consecutive", "limit"),
    [("rollout", False, 2), ("stage", False, 1), ("rollout", True, 1), ("stage", True, 2)],
)
def test_failure_limit_matches_closed_form(scope, consecutive, limit):
    durations = (4, 6, 5)
    thresholds = 0.005  # one sigma: p = 0.1587 per check
    p = fail_probability(thresholds)
    rule = {
        "kind": "failure_limit",
        "failure_limit": limit,
        "scope": scope,
        "consecutive": consecutive,
    }
    outcomes = run(policy_of(durations, rule, thresholds))
    if consecutive:
        segments = [sum(durations)] if scope == "rollout" else list(durations)
        passes = math.prod(1 - run_probability(d, limit + 1, p) for d in segments)
    elif scope == "rollout":
        passes = stats.binom.cdf(limit, sum(durations), p)
    else:
        passes = math.prod(stats.binom.cdf(limit, d, p) for d in durations)
    assert_rate(int(outcomes.rolled_back.sum()), outcomes.n_rollouts, 1 - passes)


def test_failure_limit_stage_of_rollback_matches_closed_form():
    """Per-stage scope: rolled back in stage k = passed stages < k, failed stage k."""
    durations, limit = (3, 5), 1
    p = fail_probability(0.005)
    rule = {"kind": "failure_limit", "failure_limit": limit, "scope": "stage"}
    outcomes = run(policy_of(durations, rule))
    stay = [stats.binom.cdf(limit, d, p) for d in durations]
    expected = [1 - stay[0], stay[0] * (1 - stay[1])]
    for k, want in enumerate(expected):
        hits = int((outcomes.decision_stage == k).sum())
        assert_rate(hits, outcomes.n_rollouts, want)


# --- cumulative_checks: negative binomial closed forms --------------------------------------


@pytest.mark.parametrize(("n_stages", "threshold"), [(4, 1), (5, 2), (3, 4)])
def test_cumulative_checks_matches_negative_binomial(n_stages, threshold):
    """Checks are independent with fail probability p; the weight advances on each pass.

    Completes iff fewer than ``threshold`` failures come before the ``n``-th pass:
    ``sum_{f<T} C(n-1+f, f) q^n p^f``. Rolled back in stage k (k passes before the T-th
    failure): ``C(T-1+k, k) p^T q^k``. Steps run: ``n + f`` or ``T + k``; its mean follows.
    """
    p = fail_probability(0.005)
    q = 1 - p
    outcomes = run(
        policy_of((1,) * n_stages, {"kind": "cumulative_checks", "threshold": threshold})
    )
    complete = [math.comb(n_stages - 1 + f, f) * q**n_stages * p**f for f in range(threshold)]
    at_stage = [math.comb(threshold - 1 + k, k) * p**threshold * q**k for k in range(n_stages)]
    assert math.isclose(sum(complete) + sum(at_stage), 1.0)
    n = outcomes.n_rollouts
    assert_rate(int((~outcomes.rolled_back).sum()), n, sum(complete))
    for k, want in enumerate(at_stage):
        assert_rate(int((outcomes.decision_stage == k).sum()), n, want)
    mean = sum(c * (n_stages + f) for f, c in enumerate(complete)) + sum(
        c * (threshold + k) for k, c in enumerate(at_stage)
    )
    second = sum(c * (n_stages + f) ** 2 for f, c in enumerate(complete)) + sum(
        c * (threshold + k) ** 2 for k, c in enumerate(at_stage)
    )
    se = math.sqrt((second - mean**2) / n)
    assert abs(outcomes.steps_run.mean() - mean) <= TOLERANCE_SE * se
    assert outcomes.steps_run.max() <= n_stages + threshold - 1


def test_cumulative_checks_step_weight_makes_flaggers_weights():
    policy = Policy(
        stages=[Stage(name="analysis", traffic_pct=1, error_threshold=0.01)],
        rule={"kind": "cumulative_checks", "step_weight": 20, "max_weight": 50, "threshold": 3},
    )
    # Flagger: +stepWeight per passing check, capped at 100, promote at >= maxWeight.
    assert [s.traffic_pct for s in policy.stages] == [20, 40, 60]
    assert all(s.error_threshold == 0.01 for s in policy.stages)
    assert policy.max_steps == 3 + 3 - 1
    assert Policy.model_validate(policy.model_dump()) == policy


# --- ztest: single look, AMR repeated looks, Pocock and O'Brien-Fleming ---------------------


def test_ztest_single_look_is_scipys_test_on_the_same_draws():
    """One look: each rollout rolls back exactly when scipy's one-sided p-value of its
    observed delta, z = delta / sigma, is below alpha; and the rate is alpha (4 SE)."""
    alpha, n = 0.05, 40_000
    policy = policy_of((1,), {"kind": "ztest", "alpha": alpha})
    outcomes = run(policy, n=n)
    z = draw_gaussian(7, 0, n, 1).error_z[:, 0]  # delta / sigma
    p_values = stats.norm.sf(z)
    np.testing.assert_array_equal(outcomes.rolled_back, p_values < alpha)
    assert_rate(int(outcomes.rolled_back.sum()), n, alpha)


# Armitage, McPherson & Rowe (1969), one-sided z > 1.645 at each of K looks: exact values by
# numerical integration from docs/research/sequential-tests.md (not computed by canary-mc).
AMR_ONE_SIDED = {2: 0.080076, 5: 0.129970, 10: 0.171756, 100: 0.310601}


@pytest.mark.parametrize("looks", [5, 100])
def test_ztest_uncorrected_repeated_looks_reproduce_amr(looks):
    alpha = 1 - stats.norm.cdf(1.6448536269514722)  # 0.05
    # Looks split over stages; scope rollout accumulates across them.
    durations = (looks // 5,) * 5
    outcomes = run(policy_of(durations, {"kind": "ztest", "alpha": alpha}), n=20_000)
    assert_rate(int(outcomes.rolled_back.sum()), outcomes.n_rollouts, AMR_ONE_SIDED[looks])


@pytest.mark.parametrize("looks", list(AMR_ONE_SIDED))
def test_crossing_probability_reproduces_amr(looks):
    assert abs(crossing_probability((1.6448536269514722,) * looks) - AMR_ONE_SIDED[looks]) < 2e-6


# Jennison & Turnbull (2000) Tables 2.1/2.3 (two-sided at 2 alpha = one-sided alpha to 3 dp),
# as copied in docs/research/sequential-tests.md.
POCOCK_025 = {2: 2.178, 3: 2.289, 4: 2.361, 5: 2.413, 10: 2.555}
OBF_025 = {2: 1.977, 3: 2.004, 4: 2.024, 5: 2.040, 10: 2.087}


@pytest.mark.parametrize("looks", list(POCOCK_025))
def test_group_sequential_constants_match_published_tables(looks):
    assert abs(critical_values("pocock", looks, 0.025)[0] - POCOCK_025[looks]) <= 5e-4
    # O'Brien-Fleming: c_k = c_B sqrt(K / k); the last look's value is c_B.
    assert abs(critical_values("obrien_fleming", looks, 0.025)[-1] - OBF_025[looks]) <= 5e-4


@pytest.mark.parametrize("correction", ["pocock", "obrien_fleming", "bonferroni"])
@pytest.mark.parametrize("scope", ["rollout", "stage"])
def test_ztest_corrections_hold_the_overall_rate(correction, scope):
    """Pocock and OBF make each analysis's level alpha; Bonferroni at most alpha. With
    scope stage the stages' analyses are independent: 1 - (1 - a)^stages."""
    alpha, n = 0.05, 30_000
    durations = (10, 10) if scope == "stage" else (4, 8, 8)
    rule = {"kind": "ztest", "alpha": alpha, "correction": correction, "scope": scope}
    outcomes = run(policy_of(durations, rule), n=n, seed=11)
    per_analysis = alpha
    if correction == "bonferroni":  # exact level of K looks at alpha / K, from AMR's recursion
        k = durations[0] if scope == "stage" else sum(durations)
        per_analysis = crossing_probability(critical_values("bonferroni", k, alpha))
        assert per_analysis <= alpha
    expected = 1 - (1 - per_analysis) ** (len(durations) if scope == "stage" else 1)
    assert_rate(int(outcomes.rolled_back.sum()), n, expected)


# --- sprt: Wald's bounds, and his ASN -------------------------------------------------------


SPRT_BAKE = 1000  # steps: far beyond the tests' ASN, so truncation never decides


def sprt_experiment(alpha, beta, increase, n=12_000):
    rule = {
        "kind": "sprt",
        "alpha": alpha,
        "beta": beta,
        "min_error_increase": increase,
        "min_latency_increase_ms": 10,
    }
    policy = policy_of((SPRT_BAKE,), rule)
    return run(policy, n=n), run(policy, Scenario(error_delta=increase), n=n)


@pytest.mark.parametrize(("alpha", "beta", "increase"), [(0.05, 0.2, 0.0025), (0.01, 0.1, 0.0015)])
def test_sprt_respects_walds_bounds_and_approximations(alpha, beta, increase):
    """Wald (1945): realised errors obey a' <= a / (1 - b) and b' <= b / (1 - a).

    Average sample numbers: Wald's approximation ignores the overshoot of the boundaries,
    so the observed ASN is above it (by 27% at increase/sigma = 0.5, 10% at 0.3). With
    Siegmund's overshoot correction (boundaries moved out by 0.583 * increase/sigma, the
    normal random walk's mean overshoot) the approximations of errors and ASN are within
    5% (measured: within 3%)."""
    healthy, broken = sprt_experiment(alpha, beta, increase)
    n = healthy.n_rollouts
    a_obs = healthy.rolled_back.mean()
    b_obs = 1 - broken.rolled_back.mean()
    se_a, se_b = math.sqrt(a_obs * (1 - a_obs) / n), math.sqrt(b_obs * (1 - b_obs) / n)
    assert a_obs <= alpha / (1 - beta) + 3 * se_a
    assert b_obs <= beta / (1 - alpha) + 3 * se_b
    assert (
        max(healthy.steps_run.max(), broken.steps_run.max()) < SPRT_BAKE
    )  # the bake time never truncated a test

    theta = increase / 0.005  # the log-likelihood ratio's increments have sd theta
    drift = theta * theta / 2  # |E z| under either hypothesis
    A, B = math.log((1 - beta) / alpha), math.log(beta / (1 - alpha))
    wald = ((1 - alpha) * B + alpha * A) / -drift, (beta * B + (1 - beta) * A) / drift
    A2, B2 = A + 0.583 * theta, B - 0.583 * theta
    a2 = (1 - math.exp(B2)) / (math.exp(A2) - math.exp(B2))
    b2 = math.exp(B2) * (math.exp(A2) - 1) / (math.exp(A2) - math.exp(B2))
    siegmund = ((1 - a2) * B2 + a2 * A2) / -drift, (b2 * B2 + (1 - b2) * A2) / drift
    for outcomes, w, s in zip((healthy, broken), wald, siegmund, strict=True):
        mean = outcomes.steps_run.mean()
        assert w < mean < 1.3 * w
        assert abs(mean / s - 1) < 0.05
    assert abs(a_obs / a2 - 1) < 0.05 + 4 * se_a / a2
    assert abs(b_obs / b2 - 1) < 0.05 + 4 * se_b / b2


def test_sprt_accepts_early_and_saves_time():
    """A healthy canary leaves each stage when both metrics' tests accept: fewer steps
    than the bake time, and the same stages passed."""
    rule = {"kind": "sprt", "alpha": 0.05, "beta": 0.2, "min_error_increase": 0.005}
    outcomes = run(policy_of((20, 20, 20), rule), n=5000)
    completed = ~outcomes.rolled_back
    assert completed.mean() > 0.8
    assert outcomes.steps_run[completed].mean() < 0.25 * 60


# --- msprt: always valid --------------------------------------------------------------------


def test_msprt_false_alarms_stay_below_alpha_over_200_looks():
    alpha, n, looks = 0.05, 20_000, 200
    durations = (looks // 4,) * 4
    msprt = run(policy_of(durations, {"kind": "msprt", "alpha": alpha, "tau": 1.0}), n=n)
    ztest = run(policy_of(durations, {"kind": "ztest", "alpha": alpha}), n=n)
    rate = msprt.rolled_back.mean()
    assert rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / n)
    # The uncorrected z-test on the same draws: AMR's 0.31 at 100 looks, more at 200.
    assert ztest.rolled_back.mean() > AMR_ONE_SIDED[100]
    # Paired on the same draws, the mSPRT also detects a real increase.
    broken = run(
        policy_of(durations, {"kind": "msprt", "alpha": alpha}), Scenario(error_delta=0.002), n=2000
    )
    assert broken.rolled_back.mean() > 0.9
