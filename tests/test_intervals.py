"""Confidence intervals agree with scipy's implementations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from canary_mc.stats.intervals import clopper_pearson_interval, mean_interval


@given(n=st.integers(1, 10**7), data=st.data())
def test_clopper_pearson_matches_scipy(n, data):
    k = data.draw(st.sampled_from([0, n, data.draw(st.integers(0, n))]))
    lo, hi = clopper_pearson_interval(k, n)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    # binomtest finds its bounds by root-finding: about 1e-7 relative, but 1e-6 at
    # millions of trials (k = 1, n = 2.7M: 1.0e-6). The tight check is the next one.
    assert float(lo) == pytest.approx(ci.low, rel=1e-5, abs=1e-300)
    assert float(hi) == pytest.approx(ci.high, rel=1e-5, abs=1e-300)
    # The defining equations, P(K >= k | lo) = P(K <= k | hi) = 0.025, hold tightly: to
    # 1e-9 relative, plus the rounding of the bound itself, whose one ulp moves the tail
    # by up to n ulp (k = n - 1 at n = 3.8M: hi = 1 - 7e-9, 1.3e-10 off).
    rounding = n * np.finfo(float).eps
    if 0 < k:
        assert stats.binom.sf(k - 1, n, float(lo)) == pytest.approx(0.025, rel=1e-9, abs=rounding)
    if k < n:
        assert stats.binom.cdf(k, n, float(hi)) == pytest.approx(0.025, rel=1e-9, abs=rounding)
    assert 0 <= lo <= k / n <= hi <= 1
    assert (lo == 0) == (k == 0)
    assert (hi == 1) == (k == n)


def test_clopper_pearson_is_vectorized():
    lo, hi = clopper_pearson_interval(np.array([0, 5, 100]), np.array([100, 100, 100]))
    assert lo.shape == hi.shape == (3,)
    assert lo[0] == 0 and hi[2] == 1


@pytest.mark.parametrize("n", [20, 200, 1000, 10_000])
def test_coverage_is_at_least_nominal_where_events_are_few(n):
    """Exact coverage, sum over k of P(K = k) 1[lo(k) <= p <= hi(k)], for n p from 0.01
    to 20 (where Wilson's dips to 0.84 near n p = 0.18), and on a fine grid: never below
    95%. Counts above 120 carry less than 1e-40 of the mass at n p <= 20."""
    k = np.arange(min(n, 120) + 1)
    lo, hi = clopper_pearson_interval(k, n)
    for np_ in np.concatenate([np.geomspace(0.01, 20, 60), np.linspace(0.05, 5, 100)]):
        p = np_ / n
        coverage = float(stats.binom.pmf(k, n, p)[(lo <= p) & (p <= hi)].sum())
        assert coverage >= 0.95 - 1e-9, (n, np_, coverage)


def test_wilson_would_fail_the_same_check():
    """The check above can fail: Wilson's score interval (scipy) covers n p = 0.175 at
    n = 1000 only about 84% of the time."""
    n, p = 1000, 0.175 / 1000
    k = np.arange(12)
    covered = [
        (ci.low <= p <= ci.high)
        for ci in (stats.binomtest(int(j), n).proportion_ci(method="wilson") for j in k)
    ]
    coverage = float(stats.binom.pmf(k, n, p)[covered].sum())
    assert coverage < 0.85


@given(values=st.lists(st.integers(1, 30), min_size=30, max_size=300))
def test_mean_interval_matches_scipy_normal_interval(values):
    x = np.array(values, dtype=np.int64)
    mean, lo, hi = mean_interval(int(x.sum()), int((x * x).sum()), len(x))
    want = (
        stats.norm.interval(0.95, loc=x.mean(), scale=stats.sem(x))
        if x.std() > 0
        else (x.mean(), x.mean())
    )
    assert mean == pytest.approx(x.mean())
    assert lo == pytest.approx(want[0], abs=1e-9)
    assert hi == pytest.approx(want[1], abs=1e-9)


def test_mean_interval_is_exact_for_huge_integer_sums():
    """Integer variance: a constant sample has zero spread, with no float cancellation."""
    n, value = 10**7, 23
    mean, lo, hi = mean_interval(n * value, n * value * value, n)
    assert (mean, lo, hi) == (23.0, 23.0, 23.0)
    assert mean_interval(5, 25, 1) == (5.0, None, None)
    assert mean_interval(29 * 5, 29 * 25, 29) == (5.0, None, None)


def test_mean_interval_stays_within_bounds():
    """30 observations: 29 ones and one 20; the normal interval would dip below 1."""
    total, total_sq = 29 + 20, 29 + 400
    _, lo, hi = mean_interval(total, total_sq, 30, bounds=(1, 20))
    assert lo == 1 and hi < 20
