"""The counts noise model against independent references: scipy, direct per-request
sampling, exact fractions, a scalar reference, and the Gaussian model in the limit.

Statistical checks allow 4 standard errors; KS tests use a 0.001 level.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from conftest import ROOT, engine_outcome
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, special, stats
from strategies import count_noises, count_services, faults, policies

from canary_mc.engine.core.normal import normal_quantile
from canary_mc.engine.core.schedule import plan_fault, plan_policy
from canary_mc.engine.core.streams import BLOCK_ROLLOUTS
from canary_mc.engine.noise.counts import (
    QUANTILE_LEVELS,
    CountsWorldPlan,
    TrafficPlan,
    blast_radius,
    decide_counts_threshold,
    draw_counts,
    latency_metric,
    observe_counts,
    plan_counts_world,
    plan_traffic,
    rate_delta_exceeds,
)
from canary_mc.engine.simulate import run_experiment, simulate_outcomes
from canary_mc.model import CountsNoise, Experiment, GaussianNoise, Policy, Scenario, Service, Stage
from canary_mc.reference import reference_counts_rollout

TOLERANCE_SE = 4.0
KS_LEVEL = 0.001


def one_stage(traffic_pct=50.0, steps=1, error_threshold=0.02, latency_ms=1e9, **policy):
    return Policy(
        stages=[
            Stage(
                name="s",
                traffic_pct=traffic_pct,
                duration_steps=steps,
                error_threshold=error_threshold,
            )
        ],
        latency_threshold_ms=latency_ms,
        **policy,
    )


def world_draws(policy, service, noise, scenarios, n, seed=1):
    world = plan_counts_world(policy, service, noise)
    fault_plans = [plan_fault(policy, s) for s in scenarios]
    draws, excess = draw_counts(seed, 0, n, world, fault_plans)
    return world, fault_plans, draws, excess


def assert_close(got, want, se, what):
    assert abs(got - want) <= TOLERANCE_SE * se, f"{what}: {got} vs {want} (SE {se:.3g})"


# --- building blocks ---------------------------------------------------------------


def test_normal_quantile_matches_scipy():
    rng = np.random.default_rng(0)
    p = np.concatenate(
        [rng.random(10_000), np.logspace(-300, -1, 300), 1 - np.logspace(-16, -1, 200)]
    )
    want = special.ndtri(p)
    np.testing.assert_allclose(normal_quantile(p), want, rtol=4e-15, atol=1e-300)
    assert normal_quantile(np.array([0.0, 1.0])).tolist() == [-np.inf, np.inf]


def test_traffic_by_hand():
    policy = Policy(
        stages=[
            Stage(name="a", traffic_pct=0.4, error_threshold=0.01),
            Stage(name="b", traffic_pct=5, error_threshold=0.01),
            Stage(name="c", traffic_pct=2.5, error_threshold=0.01),
            Stage(name="d", traffic_pct=100, error_threshold=0.01),
        ]
    )
    service = Service(error_rate=0.01, latency_ms=100, requests_per_step=100)
    rest = plan_traffic(policy, service)
    # 0.4% of 100 = 0.4 -> 0; 5 -> 5; 2.5 rounds half up to 3; 100% leaves no baseline.
    assert rest.canary_requests.tolist() == [0, 5, 3, 100]
    assert rest.baseline_requests.tolist() == [100, 95, 97, 0]
    matched = plan_traffic(policy, service.model_copy(update={"baseline": "matched"}))
    assert matched.baseline_requests.tolist() == [0, 5, 3, 100]
    # Period 4: sin = 0, 1, 0, -1 -> totals 100, 150, 100, 50 with amplitude 0.5.
    diurnal = service.model_copy(update={"diurnal_amplitude": 0.5, "diurnal_period_steps": 4})
    wavy = plan_traffic(policy.model_copy(update={"stages": (policy.stages[3],) * 1}), diurnal)
    assert wavy.canary_requests.tolist() == [100]
    flat100 = Policy(stages=[Stage(name="x", traffic_pct=50, duration_steps=4, error_threshold=0)])
    assert plan_traffic(flat100, diurnal).canary_requests.tolist() == [50, 75, 50, 25]


# --- exact ties -----------------------------------------------------------------------


def test_the_issue_tie_is_not_decided_by_rounding():
    """5/100 - 57/1900 is exactly 1/50; in floats it comes out above 0.02."""
    assert 5 / 100 - 57 / 1900 > 0.02  # what floating point would decide
    one = np.ones((1, 1), dtype=np.int64)
    at = rate_delta_exceeds(5 * one, 100 * one, 57 * one, 1900 * one, [Fraction(1, 50)])
    above = rate_delta_exceeds(6 * one, 100 * one, 57 * one, 1900 * one, [Fraction(1, 50)])
    below = rate_delta_exceeds(5 * one, 100 * one, 58 * one, 1900 * one, [Fraction(1, 50)])
    assert (at.item(), above.item(), below.item()) == (False, True, False)


def test_threshold_is_the_decimal_written_times_the_scale():
    plan = plan_policy(
        Policy(
            stages=[Stage(name="a", traffic_pct=5, error_threshold=0.015)],
            error_threshold_scale=2,
        )
    )
    assert plan.error_threshold_exact == (Fraction(3, 100),)


@given(
    data=st.data(),
    big=st.booleans(),
    threshold=st.one_of(
        st.sampled_from([Fraction(0), Fraction(1, 50), Fraction(3, 400)]),
        st.fractions(min_value=-1, max_value=1, max_denominator=10**12),
    ),
)
def test_rate_comparison_matches_fractions(data, big, threshold):
    """Including the Python-integer path for products that would overflow int64."""
    top = 10**12 if big else 2000
    n = st.integers(0, top)
    shape = (6, 1)
    cn = np.array([[data.draw(n)] for _ in range(6)], dtype=np.int64)
    bn = np.array([[data.draw(n)] for _ in range(6)], dtype=np.int64)
    ce = np.array([[data.draw(st.integers(0, int(c)))] for c in cn[:, 0]], dtype=np.int64)
    be = np.array([[data.draw(st.integers(0, int(b)))] for b in bn[:, 0]], dtype=np.int64)
    got = rate_delta_exceeds(ce, cn, be, bn, [threshold])
    assert got.shape == shape
    for i in range(6):
        c, b = int(cn[i, 0]), int(bn[i, 0])
        want = (
            c > 0 and b > 0 and Fraction(int(ce[i, 0]), c) - Fraction(int(be[i, 0]), b) > threshold
        )
        assert bool(got[i, 0]) == want


# --- count noise against scipy ----------------------------------------------------------

N_COUNTS = 20_000


def binomial_checks(sample, pmf_at, support, what):
    """Mean, variance and CDF at a few points of ``sample`` against a reference pmf."""
    k = np.arange(support + 1)
    pmf = pmf_at(k)
    mean = float((k * pmf).sum())
    var = float((k**2 * pmf).sum()) - mean**2
    fourth = float(((k - mean) ** 4 * pmf).sum())
    n = sample.size
    assert_close(sample.mean(), mean, math.sqrt(var / n), f"{what} mean")
    assert_close(sample.var(), var, math.sqrt(max(fourth - var**2, 1e-12) / n), f"{what} var")
    cdf = np.cumsum(pmf)
    for q in (0.1, 0.5, 0.9):
        x = int(np.searchsorted(cdf, q))  # the reference's q-quantile
        p = float(cdf[x])
        assert_close(
            (sample <= x).mean(), p, math.sqrt(p * (1 - p) / n) + 1e-9, f"{what} P(X<={x})"
        )


@pytest.mark.parametrize(
    ("rate", "scenario", "canary_rate"),
    [
        (0.01, Scenario(), 0.01),
        (0.01, Scenario(error_delta=0.02), 0.03),
        (0.02, Scenario(error_relative=-0.5), 0.01),
        (0.05, Scenario(error_relative=1.0, error_delta=-0.01), 0.09),
    ],
    ids=["healthy", "absolute", "relative-down", "relative-and-absolute"],
)
def test_binomial_counts_match_scipy(rate, scenario, canary_rate):
    """Without dispersion each side's errors are Binomial(requests, rate), faults included."""
    policy = one_stage(traffic_pct=10)
    service = Service(error_rate=rate, latency_ms=100, requests_per_step=5000)
    noise = CountsNoise(model="counts")
    world, plans, draws, excess = world_draws(policy, service, noise, [scenario], N_COUNTS)
    obs = observe_counts(draws, excess[0], world, plans[0])
    binomial_checks(
        obs.canary_errors[:, 0], lambda k: stats.binom.pmf(k, 500, canary_rate), 500, "canary"
    )
    binomial_checks(
        obs.baseline_errors[:, 0], lambda k: stats.binom.pmf(k, 4500, rate), 4500, "baseline"
    )


def lognormal_mixture_pmf(n, rate, sigma):
    """P(X = k) for X ~ Binomial(n, min(1, rate * exp(sigma Z - sigma^2 / 2))), by quadrature."""

    def pmf(k):
        return np.array(
            [
                integrate.quad(
                    lambda z, k=int(j): (
                        stats.binom.pmf(k, n, min(1.0, rate * math.exp(sigma * z - sigma**2 / 2)))
                        * stats.norm.pdf(z)
                    ),
                    -9,
                    9,
                    limit=200,
                )[0]
                for j in k
            ]
        )

    return pmf


@pytest.mark.parametrize("mode", ["independent", "common", "both"])
def test_overdispersed_counts_match_the_lognormal_mixture(mode):
    n_canary, rate, sigma = 400, 0.02, 0.6
    policy = one_stage(traffic_pct=50)
    service = Service(error_rate=rate, latency_ms=100, requests_per_step=800)
    noise = CountsNoise(model="counts", error_dispersion=sigma, error_dispersion_mode=mode)
    world, plans, draws, excess = world_draws(policy, service, noise, [Scenario()], N_COUNTS)
    obs = observe_counts(draws, excess[0], world, plans[0])
    pmf = lognormal_mixture_pmf(n_canary, rate, sigma)
    binomial_checks(obs.canary_errors[:, 0], pmf, 60, f"{mode} canary")
    binomial_checks(obs.baseline_errors[:, 0], pmf, 60, f"{mode} baseline")
    # Between sides: Cov = n^2 Var(shared multiplier) * rate^2 (the clip at 1 is negligible).
    shared = {"independent": 0.0, "common": sigma**2, "both": sigma**2 / 2}[mode]
    cov = n_canary**2 * rate**2 * math.expm1(shared)
    sample_cov = np.cov(obs.canary_errors[:, 0], obs.baseline_errors[:, 0])[0, 1]
    var = obs.canary_errors[:, 0].var()
    assert_close(sample_cov, cov, math.sqrt((var * var + sample_cov**2) / N_COUNTS), "cov")


# --- latency metric against per-request sampling ----------------------------------------

N_KS = 20_000
# Two-sample KS, 20,000 per side, level 0.001: rejects when D > 1.949 * sqrt(2 / 20000)
# = 0.0195. Power: against normal samples shifted so that their CDFs differ by 0.03 at
# most, 300 of 300 simulated tests rejected (power > 0.98 at 95% confidence), so a metric
# whose distribution is off by 3 points of probability anywhere would fail.


@pytest.mark.parametrize("metric", ["mean", "p50", "p95", "p99"])
@pytest.mark.parametrize("n", [1, 2, 5, 20, 100])
def test_latency_metric_matches_per_request_sampling(metric, n):
    """Quantiles are exact order statistics; the mean is Fenton-Wilkinson (sigma 0.5)."""
    sigma, median = 0.5, 100.0
    q = QUANTILE_LEVELS.get(metric)
    traffic = TrafficPlan(np.array([n]), np.array([n]))
    world = CountsWorldPlan(traffic, 0.0, 0.0, 0.0, median, sigma, q)
    draws, _ = draw_counts(11, 0, N_KS, world, [])
    engine = latency_metric(draws.canary_latency_z[:, 0], n, median, sigma, q)
    requests = median * np.exp(sigma * np.random.default_rng(7).standard_normal((N_KS, n)))
    if q is None:
        direct = requests.mean(axis=1)
    else:
        direct = np.quantile(requests, float(q), axis=1, method="inverted_cdf")
    assert stats.ks_2samp(engine, direct).pvalue > KS_LEVEL


# --- engine = scalar reference ------------------------------------------------------------


@given(
    data=st.data(),
    policy=policies(max_stages=3, max_steps=3),
    service=count_services(),
    noise=count_noises,
    no_data=st.sampled_from(["hold", "pass", "fail"]),
)
def test_engine_matches_counts_reference(data, policy, service, noise, no_data):
    policy = policy.model_copy(update={"no_data": no_data})
    scenario = data.draw(faults(policy, tail=True))
    seed = data.draw(st.integers(0, 2**32))
    n = 32
    world, plans, draws, excess = world_draws(policy, service, noise, [scenario], n, seed)
    obs = observe_counts(draws, excess[0], world, plans[0])
    outcomes = decide_counts_threshold(obs, world, plan_policy(policy))
    served, excess_served = blast_radius(obs, outcomes)
    for i in range(n):
        row = {
            "healthy_canary_errors": draws.healthy_canary_errors[i].tolist(),
            "baseline_errors": draws.baseline_errors[i].tolist(),
            "excess_errors": excess[0][i].tolist(),
            "canary_latency_z": draws.canary_latency_z[i].tolist(),
            "baseline_latency_z": draws.baseline_latency_z[i].tolist(),
            "presence_u": None if draws.presence_u is None else draws.presence_u[i].tolist(),
        }
        ref, ref_served, ref_excess = reference_counts_rollout(
            policy, service, noise, scenario, row
        )
        got = (*engine_outcome(outcomes, i), int(served[i]), int(excess_served[i]))
        want = (
            ref.rolled_back,
            ref.decision_step,
            ref.decision_stage,
            ref.reason,
            ref.steps_run,
            ref_served,
            ref_excess,
        )
        assert got == want, f"rollout {i}"


# --- reproducibility and common random numbers ------------------------------------------


def counts_experiment(**service):
    return Experiment(
        seed=5,
        rollouts=2 * BLOCK_ROLLOUTS + 77,
        policy=Policy(
            stages=[
                Stage(name="a", traffic_pct=5, duration_steps=2, error_threshold=0.02),
                Stage(name="b", traffic_pct=50, duration_steps=2, error_threshold=0.01),
            ],
            latency_threshold_ms=30,
        ),
        service=Service(error_rate=0.01, latency_ms=100, **({"requests_per_step": 1000} | service)),
        noise=CountsNoise(model="counts", error_dispersion=0.3, latency_metric="p95"),
        scenarios={
            "err": Scenario(error_delta=0.01, intermittent_q=0.7),
            "lat": Scenario(latency_factor=1.2, onset_stage="b"),
        },
    )


def test_chunking_changes_nothing_including_the_p95():
    experiment = counts_experiment()
    whole = run_experiment(experiment, chunk_rollouts=10**9)
    for chunk in (1, 2 * BLOCK_ROLLOUTS):
        assert run_experiment(experiment, chunk_rollouts=chunk) == whole
    err = next(s for s in whole.scenarios if s.scenario == "err")
    assert err.blast.excess_errors_p95 > 0


def test_any_range_sees_the_same_numbers():
    policy = counts_experiment().policy
    service = counts_experiment().service
    noise = counts_experiment().noise
    scenario = Scenario(error_delta=0.01, intermittent_q=0.5)
    *_, whole, whole_excess = world_draws(policy, service, noise, [scenario], 2 * BLOCK_ROLLOUTS)
    world = plan_counts_world(policy, service, noise)
    part, part_excess = draw_counts(
        1, 100, BLOCK_ROLLOUTS + 5, world, [plan_fault(policy, scenario)]
    )
    rows = slice(100, BLOCK_ROLLOUTS + 5)
    np.testing.assert_array_equal(part.baseline_errors, whole.baseline_errors[rows])
    np.testing.assert_array_equal(part.canary_latency_z, whole.canary_latency_z[rows])
    np.testing.assert_array_equal(part_excess[0], whole_excess[0][rows])


@given(
    policy=policies(max_stages=3, max_steps=3),
    service=count_services(),
    noise=count_noises,
    seed=st.integers(0, 2**32),
    error_delta=st.floats(0, 0.05),
    latency_delta=st.floats(0, 80),
    factor=st.sampled_from([1.0, 1.5]),
)
def test_regressed_twin_rolls_back_no_later(
    policy, service, noise, seed, error_delta, latency_delta, factor
):
    """The healthy errors and every latency draw are shared: a worse canary fails no later."""

    def points(scenario):
        outcomes = simulate_outcomes(
            policy=policy, service=service, noise=noise, scenario=scenario, n_rollouts=64, seed=seed
        )
        return np.where(outcomes.rolled_back, outcomes.decision_step, np.inf)

    healthy = points(Scenario())
    regressed = points(
        Scenario(error_delta=error_delta, latency_delta_ms=latency_delta, latency_factor=factor)
    )
    assert (regressed <= healthy).all()


# --- blast radius, exact -----------------------------------------------------------------


def deterministic(scenario, **policy):
    """Errors are certain: a 0% baseline, and a fault that fails every canary request."""
    return Experiment(
        rollouts=300,
        policy=Policy(
            stages=[
                Stage(name="a", traffic_pct=1, duration_steps=2, error_threshold=0.5),
                Stage(name="b", traffic_pct=10, duration_steps=3, error_threshold=0.5),
            ],
            latency_threshold_ms=1e9,
            **policy,
        ),
        service=Service(error_rate=0.0, latency_ms=100, requests_per_step=1000),
        noise=CountsNoise(model="counts"),
        scenarios={"fault": scenario},
    )


def blast_of(experiment, name="fault"):
    return next(s for s in run_experiment(experiment).scenarios if s.scenario == name)


def test_blast_radius_exact_when_everything_is_certain():
    # Canary serves 10 requests per step in stage a, 100 in stage b.
    healthy = blast_of(deterministic(Scenario()))
    assert healthy.rollback.events == 0
    assert healthy.blast.canary_requests_mean == 2 * 10 + 3 * 100
    assert (healthy.blast.excess_errors_mean, healthy.blast.excess_errors_p95) == (0, 0)

    at_once = blast_of(deterministic(Scenario(error_delta=1.0)))
    assert at_once.rollback.events == 300 and at_once.mean_steps_to_decision == 1
    assert at_once.blast.canary_requests_mean == 10
    assert at_once.blast.excess_errors_mean == 10 and at_once.blast.excess_errors_p95 == 10
    assert at_once.blast.excess_errors_p95_lo == at_once.blast.excess_errors_p95_hi == 10

    # Onset at stage b's second step: the whole of stage a and one step of b pass first.
    late = blast_of(deterministic(Scenario(error_delta=1.0, onset_stage="b", onset_step=1)))
    assert late.mean_steps_to_decision == 4
    assert late.blast.canary_requests_mean == 2 * 10 + 2 * 100
    assert late.blast.excess_errors_mean == 100


def test_blast_radius_counts_errors_served_when_no_rule_can_see_them():
    """A fault under a threshold the rule cannot reach: every faulty request is served."""
    loose = deterministic(Scenario(error_delta=1.0), error_threshold_scale=2.0)  # limit 1.0
    result = blast_of(loose)
    assert result.rollback.events == 0
    assert result.blast.excess_errors_mean == result.blast.canary_requests_mean == 320


# --- no data ------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "rolled_back"), [("hold", 0), ("pass", 0), ("fail", 300)])
def test_no_data_rule(rule, rolled_back):
    """1% of 50 requests rounds to 0 canary requests: every step of stage a has no data."""
    experiment = deterministic(Scenario(), no_data=rule).model_copy(
        update={"service": Service(error_rate=0.0, latency_ms=100, requests_per_step=40)}
    )
    result = blast_of(experiment)
    assert result.rollback.events == rolled_back
    assert result.no_data_rollbacks == rolled_back
    if rule == "fail":
        assert result.mean_steps_to_decision == 1
        assert result.stages[0].rollback_fraction.events == 300


# --- fault shapes, step by step ---------------------------------------------------------


def present_steps(scenario, policy, n=400):
    """Where the fault shows: errors only come from it (0% baseline, 100% faulty requests)."""
    service = Service(error_rate=0.0, latency_ms=100, requests_per_step=1000)
    world, plans, draws, excess = world_draws(
        policy, service, CountsNoise(model="counts"), [scenario], n
    )
    obs = observe_counts(draws, excess[0], world, plans[0])
    assert (
        obs.canary_errors[obs.canary_errors > 0] == obs.canary_requests[obs.canary_errors > 0]
    ).all()
    return obs.canary_errors > 0, draws


STAGES = Policy(
    stages=[
        Stage(name="a", traffic_pct=1, duration_steps=2, error_threshold=0.5),
        Stage(name="b", traffic_pct=25, duration_steps=3, error_threshold=0.5),
        Stage(name="c", traffic_pct=50, duration_steps=2, error_threshold=0.5),
    ]
)


@pytest.mark.parametrize(
    ("scenario", "steps"),
    [
        (Scenario(error_delta=1.0), [0, 1, 2, 3, 4, 5, 6]),
        (Scenario(error_delta=1.0, onset_stage="b"), [2, 3, 4, 5, 6]),
        (Scenario(error_delta=1.0, onset_step=3), [3, 4, 5, 6]),
        (Scenario(error_delta=1.0, onset_stage=1, onset_step=2), [4, 5, 6]),
        (Scenario(error_delta=1.0, min_traffic_pct=50), [5, 6]),
        (Scenario(error_delta=1.0, min_traffic_pct=25, onset_step=3), [3, 4, 5, 6]),
    ],
    ids=["always", "stage", "step", "stage+step", "load", "load+step"],
)
def test_fault_appears_exactly_where_it_should(scenario, steps):
    shows, _ = present_steps(scenario, STAGES)
    expected = np.zeros(STAGES.n_steps, dtype=bool)
    expected[steps] = True
    assert (shows == expected).all()


def test_error_ramp_grows_step_by_step():
    """Rate -0.5 + 0.5 k from stage b (steps 2..6, k = 0..4): 0, 0, 0.5, 1, 1 after the clip."""
    scenario = Scenario(error_delta=-0.5, error_ramp_per_step=0.5, onset_stage="b")
    policy = STAGES
    service = Service(error_rate=0.0, latency_ms=100, requests_per_step=1000)
    world, plans, draws, excess = world_draws(
        policy, service, CountsNoise(model="counts"), [scenario], 400
    )
    obs = observe_counts(draws, excess[0], world, plans[0])
    rate = obs.canary_errors / obs.canary_requests
    assert (rate[:, :4] == 0).all() and (rate[:, 5:] == 1).all()
    n = rate.shape[0] * 250  # 250 canary requests at step 4
    assert_close(rate[:, 4].mean(), 0.5, math.sqrt(0.25 / n), "rate at k = 2")


def test_ramp_is_linear_step_by_step_on_latency():
    """Latency ramp: canary p50 minus the healthy p50 on the same draw is delta + ramp k."""
    policy = STAGES
    service = Service(error_rate=0.0, latency_ms=100, requests_per_step=1000)
    noise = CountsNoise(model="counts", latency_metric="p50")
    scenario = Scenario(latency_delta_ms=5, latency_ramp_ms_per_step=2, onset_stage="b")
    world, plans, draws, excess = world_draws(policy, service, noise, [scenario], 50)
    obs = observe_counts(draws, excess[0], world, plans[0])
    healthy = 100 * np.exp(0.5 * draws.canary_latency_z)
    shift = obs.canary_latency_ms - healthy
    want = np.array([0, 0, 5, 7, 9, 11, 13], dtype=float)
    np.testing.assert_allclose(shift, np.broadcast_to(want, shift.shape), atol=1e-9)


def test_intermittent_fault_is_present_where_its_uniform_says():
    scenario = Scenario(error_delta=1.0, intermittent_q=0.3, onset_stage="b")
    shows, draws = present_steps(scenario, STAGES, n=4000)
    expected = (draws.presence_u < 0.3) & (np.arange(STAGES.n_steps) >= 2)
    assert (shows == expected).all()
    frac = shows[:, 2:].mean()
    assert_close(frac, 0.3, math.sqrt(0.3 * 0.7 / shows[:, 2:].size), "presence rate")


def test_tail_only_moves_the_p99_and_not_the_median():
    """With a million requests per side, the sample p50/p99 sit on the distribution's."""
    policy = one_stage(traffic_pct=50)
    service = Service(error_rate=0.0, latency_ms=100, requests_per_step=2_000_000)
    scenario = Scenario(latency_delta_ms=200, latency_tail_only=True)
    p99 = 100 * math.exp(0.5 * stats.norm.ppf(0.99))
    for metric, want in (("p50", 100.0), ("p99", p99 + 200)):
        noise = CountsNoise(model="counts", latency_metric=metric)
        world, plans, draws, excess = world_draws(policy, service, noise, [scenario], 20)
        obs = observe_counts(draws, excess[0], world, plans[0])
        np.testing.assert_allclose(obs.canary_latency_ms, want, rtol=0.01)
        np.testing.assert_allclose(
            obs.baseline_latency_ms, 100 if metric == "p50" else p99, rtol=0.01
        )


def test_gaussian_intermittent_fault_rolls_back_at_its_first_presence():
    policy = one_stage(steps=6, error_threshold=0.01)
    scenario = Scenario(error_delta=0.5, intermittent_q=0.4)
    outcomes = simulate_outcomes(
        policy=policy,
        service=Service(error_rate=0.01, latency_ms=100),
        noise=GaussianNoise(error_sigma=0, latency_sigma_ms=0),
        scenario=scenario,
        n_rollouts=500,
        seed=3,
    )
    from canary_mc.engine.noise.draws import draw_gaussian

    present = draw_gaussian(3, 0, 500, 6, presence=True).presence_u < 0.4
    first = np.where(present.any(axis=1), present.argmax(axis=1), -1)
    np.testing.assert_array_equal(outcomes.decision_step, first)


# --- the Gaussian limit -------------------------------------------------------------------


def test_huge_traffic_without_dispersion_is_the_gaussian_model():
    """Binomial rate differences at 10^7 requests are normal: match the Gaussian sigma."""
    rate, delta, n_c, n_b = 0.01, 0.0002, 5_000_000, 5_000_000
    sigma = math.sqrt((rate + delta) * (1 - rate - delta) / n_c + rate * (1 - rate) / n_b)
    policy = one_stage(traffic_pct=50, steps=3, error_threshold=0.0003)
    scenario = Scenario(error_delta=delta)
    n = 20_000
    counts = simulate_outcomes(
        policy=policy,
        service=Service(error_rate=rate, latency_ms=100, requests_per_step=n_c + n_b),
        noise=CountsNoise(model="counts"),
        scenario=scenario,
        n_rollouts=n,
        seed=1,
    )
    gaussian = simulate_outcomes(
        policy=policy,
        service=Service(error_rate=rate, latency_ms=100),
        noise=GaussianNoise(error_sigma=sigma, latency_sigma_ms=0),
        scenario=scenario,
        n_rollouts=n,
        seed=1,
    )
    p_pass = stats.norm.cdf((0.0003 - delta) / sigma)
    closed = 1 - p_pass**3
    se = math.sqrt(closed * (1 - closed) / n)
    assert_close(counts.rolled_back.mean(), closed, se, "counts vs closed form")
    assert_close(gaussian.rolled_back.mean(), closed, se, "gaussian vs closed form")
    for a, b in ((counts, gaussian),):
        for j in range(3):
            p = closed_step = p_pass**j * (1 - p_pass)
            got = (a.decision_step == j).mean()
            assert_close(got, closed_step, math.sqrt(p * (1 - p) / n), f"step {j}")
            assert_close(
                (b.decision_step == j).mean(), closed_step, math.sqrt(p * (1 - p) / n), "g"
            )


@pytest.mark.parametrize("metric", ["mean", "p50"])
def test_huge_traffic_latency_is_gaussian_with_the_matching_sigma(metric):
    """Mean: sd m e^{s^2/2} sqrt((e^{s^2} - 1)(1/n_c + 1/n_b)); median: the asymptotic
    sd of a sample median, m sqrt(pi/2) s sqrt(1/n_c + 1/n_b) (delta method on exp)."""
    m, s, n_side, delta = 100.0, 0.5, 1_000_000, 0.1
    if metric == "mean":
        sd = m * math.exp(s * s / 2) * math.sqrt(math.expm1(s * s) * 2 / n_side)
    else:
        sd = m * s * math.sqrt(math.pi / 2) * math.sqrt(2 / n_side)
    limit = 0.15
    policy = one_stage(traffic_pct=50, steps=2, error_threshold=1.0, latency_ms=limit)
    n = 20_000
    counts = simulate_outcomes(
        policy=policy,
        service=Service(error_rate=0.0, latency_ms=m, requests_per_step=2 * n_side),
        noise=CountsNoise(model="counts", latency_log_sigma=s, latency_metric=metric),
        scenario=Scenario(latency_delta_ms=delta),
        n_rollouts=n,
        seed=2,
    )
    p_pass = stats.norm.cdf((limit - delta) / sd)  # about 0.72: a rate near 1/2
    closed = 1 - p_pass**2
    assert_close(counts.rolled_back.mean(), closed, math.sqrt(closed * (1 - closed) / n), metric)


def test_tally_survives_a_json_round_trip():
    """The sweep's point cache stores tallies as JSON; the blast histogram must come back."""
    import dataclasses
    import json

    from canary_mc.engine.simulate import tally_experiment
    from canary_mc.stats.tally import Tally

    tallies = tally_experiment(counts_experiment(), rollouts=500)
    for tally in tallies.values():
        back = Tally.from_dict(json.loads(json.dumps(dataclasses.asdict(tally))))
        assert back == tally and back.blast is not None


def test_cli_runs_and_traces_a_counts_experiment(tmp_path):
    from typer.testing import CliRunner

    from canary_mc.cli.app import app

    text = (ROOT / "experiments" / "low-traffic.yaml").read_text()
    path = tmp_path / "one.yaml"
    path.write_text(text.split("\nsweep:")[0] + "\n")
    runner = CliRunner()
    run = runner.invoke(app, ["run", str(path), "--rollouts", "300", "--quiet"])
    assert run.exit_code == 0, run.output
    assert "blast radius" in run.output and "excess errors (p95)" in run.output
    trace = runner.invoke(app, ["trace", str(path), "--scenario", "error-regression", "--json"])
    assert trace.exit_code == 0, trace.output
    assert '"phase"' in trace.output
