"""Confidence intervals agree with scipy's implementations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from canary_mc.stats.intervals import mean_interval, wilson_interval


@given(n=st.integers(1, 10**7), data=st.data())
def test_wilson_matches_scipy(n, data):
    k = data.draw(st.integers(0, n))
    lo, hi = wilson_interval(k, n)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert float(lo) == pytest.approx(ci.low, abs=1e-12)
    assert float(hi) == pytest.approx(ci.high, abs=1e-12)


@given(n=st.integers(1, 10**6), data=st.data())
def test_wilson_contains_its_estimate_exactly_at_the_edges(n, data):
    k = data.draw(st.sampled_from([0, n, data.draw(st.integers(0, n))]))
    lo, hi = wilson_interval(k, n)
    assert 0 <= lo <= k / n <= hi <= 1
    assert (lo == 0) == (k == 0)
    assert (hi == 1) == (k == n)


def test_wilson_is_vectorized():
    lo, hi = wilson_interval(np.array([0, 5, 100]), np.array([100, 100, 100]))
    assert lo.shape == hi.shape == (3,)
    assert lo[0] == 0 and hi[2] == 1


def test_wilson_coverage_near_zero():
    """Near p = 0, where false alarms live, Wilson keeps ~95% coverage (exact enumeration)."""
    n, p = 200, 0.01
    k = np.arange(n + 1)
    lo, hi = wilson_interval(k, n)
    coverage = stats.binom.pmf(k, n, p)[(lo <= p) & (p <= hi)].sum()
    assert 0.93 <= coverage <= 0.99


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
