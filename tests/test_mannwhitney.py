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
