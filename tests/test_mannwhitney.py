"""mannwhitney against scipy.stats.mannwhitneyu on the very same samples."""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats

from canary_mc.engine.core.schedule import plan_fault, plan_world
from canary_mc.engine.noise.counts import draw_counts, plan_counts_world
from canary_mc.engine.noise.draws import draw_gaussian
from canary_mc.engine.rules.mannwhitney import (
    counts_samples,
    gaussian_samples,
    mann_whitney_u,
    u_test_fires,
)
from canary_mc.model import CountsNoise, GaussianNoise, Policy, Scenario, Service
from canary_mc.model.rules import MannWhitneyRule


def policy(m=10, steps=4):
    return Policy.model_validate(
        {
            "stages": [
                {"name": "a", "traffic_pct": 20, "duration_steps": steps, "error_threshold": 0.01}
            ],
            "rule": {"kind": "mannwhitney", "samples_per_step": m},
        }
    )


def test_u_equals_scipy_exactly_with_and_without_ties():
    rng = np.random.default_rng(1)
    for case in range(300):
        m1, m2 = rng.integers(2, 12, size=2)
        if case % 2:  # many ties: small integer grids
            x, y = rng.integers(0, 4, m1).astype(float), rng.integers(0, 4, m2).astype(float)
        else:
            x, y = rng.normal(size=m1), rng.normal(0.3, 1, size=m2)
        u, _ = mann_whitney_u(x, y)
        assert u == stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic").statistic


def scipy_fires(x, y, confidence):
    """Row-wise scipy decision: asymptotic, tie- and continuity-corrected p < 1 - conf."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic", axis=-1).pvalue
    return np.nan_to_num(p, nan=1.0) < 1 - confidence


def test_gaussian_step_decisions_equal_scipy_and_the_rate_matches():
    pol = policy(m=8, steps=6)
    rule = pol.rule
    service = Service(error_rate=0.01, latency_ms=100)
    noise = GaussianNoise(error_sigma=0.005, latency_sigma_ms=10)
    world = plan_world(pol, service, noise, Scenario())
    n = 20_000
    samples = gaussian_samples(3, 0, n, 8, world, draw_gaussian(3, 0, n, 6))
    got = u_test_fires(samples.canary_latency, samples.baseline_latency, rule)
    want = scipy_fires(samples.canary_latency, samples.baseline_latency, rule.confidence)
    assert np.array_equal(got, want)
    # Under no change the rate is the test's exact size: P(U >= u*) under H0, u* the
    # smallest U scipy's asymptotic p-value rejects, from the exact null distribution.
    u_star = next(
        u
        for u in range(65)
        if stats.norm.sf((u - 32 - 0.5) / math.sqrt(64 * 17 / 12)) < 1 - rule.confidence
    )
    size = float(exact_u_null(8, 8)[u_star:].sum())
    rate = float(got.mean())
    se = math.sqrt(size * (1 - size) / got.size)  # looks are independent here
    assert abs(rate - size) < 4 * se
    assert 0.01 < size < 0.02  # continuity correction: conservative at m = 8


def exact_u_null(m1: int, m2: int) -> np.ndarray:
    """P(U = u) under H0 without ties, by the counting recursion
    ``N(u; a, b) = N(u - b; a - 1, b) + N(u; a, b - 1)`` (Mann & Whitney 1947)."""

    @functools.cache
    def count(u: int, a: int, b: int) -> int:
        if u < 0:
            return 0
        if a == 0 or b == 0:
            return int(u == 0)
        return count(u - b, a - 1, b) + count(u, a, b - 1)

    counts = np.array([count(u, m1, m2) for u in range(m1 * m2 + 1)], dtype=float)
    return counts / math.comb(m1 + m2, m1)


def test_counts_step_decisions_equal_scipy_with_ties():
    pol = policy(m=10, steps=3)
    rule = MannWhitneyRule(kind="mannwhitney", confidence=0.9, samples_per_step=10)
    service = Service(error_rate=0.05, latency_ms=100, requests_per_step=1000)
    noise = CountsNoise(model="counts", latency_metric="p95")
    world = plan_counts_world(pol, service, noise)
    fault = plan_fault(pol, Scenario(error_relative=0.5, intermittent_q=0.5))
    n = 6000
    draws, _ = draw_counts(5, 0, n, world, [fault])
    (samples,) = counts_samples(5, 0, n, 10, world, [fault], draws.presence_u)
    for x, y in (
        (samples.canary_error, samples.baseline_error),
        (samples.canary_latency, samples.baseline_latency),
    ):
        assert np.array_equal(u_test_fires(x, y, rule), scipy_fires(x, y, rule.confidence))


def test_samples_do_not_depend_on_the_range_drawn():
    pol = policy(m=5, steps=2)
    service = Service(error_rate=0.05, latency_ms=100, requests_per_step=500)
    world = plan_counts_world(pol, service, CountsNoise(model="counts"))
    fault = plan_fault(pol, Scenario(error_delta=0.02, intermittent_q=0.5))
    whole, _ = draw_counts(2, 0, 5000, world, [fault])
    part, _ = draw_counts(2, 4000, 5000, world, [fault])
    (a,) = counts_samples(2, 0, 5000, 5, world, [fault], whole.presence_u)
    (b,) = counts_samples(2, 4000, 5000, 5, world, [fault], part.presence_u)
    assert np.array_equal(a.canary_error[4000:], b.canary_error)
    assert np.array_equal(a.canary_latency[4000:], b.canary_latency)


def test_binomial_inversion_is_exact_at_small_medium_and_very_large_n_p():
    """Each draw is the smallest k with F(k) >= u (scipy's binomial CDF), and the draws
    follow scipy.stats.binom: mean and CDF at the quartiles within 4 SE. The old product
    form returned n at n p > 745 (200,000 at n = 200,000, p = 0.005)."""
    from canary_mc.engine.core.binomial import binomial_from_uniform

    rng = np.random.default_rng(13)
    n_draws = 40_000
    for trials, prob in ((20, 0.005), (1_000, 0.3), (200_000, 0.005), (10**7, 0.01)):
        u = rng.random(n_draws)
        k = binomial_from_uniform(np.array(trials), np.array(prob), u)
        dist = stats.binom(trials, prob)
        assert np.all(dist.cdf(k) >= u) and np.all(dist.cdf(k - 1) < u)
        se = math.sqrt(dist.var() / n_draws)
        assert abs(k.mean() - dist.mean()) < 4 * se
        for q in dist.ppf([0.25, 0.5, 0.75]):
            p = dist.cdf(q)
            assert abs((k <= q).mean() - p) < 4 * math.sqrt(p * (1 - p) / n_draws)
    edges = binomial_from_uniform(np.array([5, 5, 0, 7]), np.array([0.0, 1.0, 0.5, 0.3]), 0.0)
    assert edges.tolist() == [0, 5, 0, 0]


def test_counts_fault_thinning_adds_the_right_errors_at_large_counts():
    """200,000 requests per sample at p = 0.005 plus error_delta 0.005: the canary's
    samples have mean rate 0.01 (the old inversion gave 1.0)."""
    pol = policy(m=2, steps=1)
    service = Service(error_rate=0.005, latency_ms=100, requests_per_step=2_000_000)
    world = plan_counts_world(pol, service, CountsNoise(model="counts"))
    fault = plan_fault(pol, Scenario(error_delta=0.005))
    (samples,) = counts_samples(1, 0, 500, 2, world, [fault], None)
    n_sub = 200_000  # min(400,000, 1,600,000) // 2
    se = math.sqrt(0.01 * 0.99 / n_sub / samples.canary_error.size)
    assert abs(samples.canary_error.mean() - 0.01) < 4 * se
    se = math.sqrt(0.005 * 0.995 / n_sub / samples.baseline_error.size)
    assert abs(samples.baseline_error.mean() - 0.005) < 4 * se


def test_counts_per_look_size_is_at_most_nominal_at_any_traffic_split():
    """Healthy canary, baseline: rest: the per-look false-alarm rate of each metric is at
    most 1 - confidence (+4 SE) at 1%, 50% and 90% traffic; before the samples had equal
    request counts a 90% canary failed a look about half the time."""
    rule = MannWhitneyRule(kind="mannwhitney", samples_per_step=10)
    service = Service(error_rate=0.05, latency_ms=100, requests_per_step=1000)
    nominal = 1 - rule.confidence
    u_star = next(
        u for u in range(101) if stats.norm.sf((u - 50 - 0.5) / math.sqrt(100 * 21 / 12)) < nominal
    )
    size = float(exact_u_null(10, 10)[u_star:].sum())
    for metric in ("mean", "p99"):
        noise = CountsNoise(model="counts", latency_metric=metric)
        for pct in (1, 50, 90):
            pol = Policy.model_validate(
                {
                    "stages": [
                        {"name": "a", "traffic_pct": pct, "duration_steps": 3,
                         "error_threshold": 0.01}
                    ],
                    "rule": rule.model_dump(),
                }
            )  # fmt: skip
            world = plan_counts_world(pol, service, noise)
            fault = plan_fault(pol, Scenario())
            (s,) = counts_samples(7, 0, 4096, 10, world, [fault], None)
            looks = s.canary_error.shape[0] * s.canary_error.shape[1]
            se = math.sqrt(nominal * (1 - nominal) / looks)  # looks are independent
            for x, y in (
                (s.canary_error, s.baseline_error),
                (s.canary_latency, s.baseline_latency),
            ):
                rate = float(u_test_fires(x, y, rule).mean())
                assert rate < nominal + 4 * se, (metric, pct, rate)
            # Latency samples have no ties: the rate is the test's exact size, as above.
            rate = float(u_test_fires(s.canary_latency, s.baseline_latency, rule).mean())
            assert abs(rate - size) < 4 * math.sqrt(size * (1 - size) / looks), (pct, rate)
