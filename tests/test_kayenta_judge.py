"""Kayenta's judge (engine/rules/kayenta_judge.py) against scipy, hand-scored configs and the
exact Mann-Whitney null distribution."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from test_mannwhitney import exact_u_null

from canary_mc.engine.rules.kayenta_judge import (
    LABELS,
    Classification,
    JudgedMetric,
    _clears,
    classify_batch,
    classify_metric,
    critical_batch,
    judge,
    score_batch,
    score_metrics,
)

Q99 = stats.norm.ppf(0.99)  # Kayenta: two-sided 98%, so 1% per tail


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 25),
    m=st.integers(3, 25),
    shift=st.floats(-2, 2),
    margin=st.floats(0, 1),
    ties=st.booleans(),
)
def test_interval_clears_the_margin_exactly_when_scipys_test_rejects(
    seed, n, m, shift, margin, ties
):
    # Kayenta's lower end exceeds the margin iff the rank-sum test of canary - margin
    # against baseline rejects at 1% one-sided (same statistic: ties, continuity),
    # except when even complete separation is not significant (then the end is min - max).
    rng = np.random.default_rng(seed)
    canary, baseline = rng.normal(shift, 1, n), rng.normal(0, 1, m)
    if ties:
        canary, baseline = np.round(canary, 0), np.round(baseline, 0)
    low_end = canary.min() - baseline.max()
    if np.unique(np.concatenate([canary - low_end, baseline])).size == 1:
        return
    top = stats.mannwhitneyu(canary - low_end, baseline, alternative="greater", method="asymptotic")
    if top.pvalue >= 0.01:
        assert _clears(canary, baseline, margin, Q99, True) == (low_end > margin)
        return
    shifted = canary - margin
    if np.unique(np.concatenate([shifted, baseline])).size == 1:
        return
    p = stats.mannwhitneyu(shifted, baseline, alternative="greater", method="asymptotic").pvalue
    if abs(p - 0.01) > 1e-9:
        assert _clears(canary, baseline, margin, Q99, True) == (p < 0.01)


def test_classes_at_the_edges():
    up = JudgedMetric("m", ("g",), "increase")
    assert classify_metric([], [1.0], up) == Classification("Nodata")
    must = JudgedMetric("m", ("g",), "increase", must_have_data=True)
    assert classify_metric([1.0], [math.nan], must).label == "NodataFailMetric"
    critical = JudgedMetric("m", ("g",), "increase", critical=True, must_have_data=True)
    assert classify_metric([], [1.0], critical) == Classification("Nodata", critical=True)
    assert classify_metric([3.0, 1.0, 2.0], [1.0, 2.0, 3.0], up).label == "Pass"  # same values
    assert classify_metric([5.0] * 20, [1.0] * 20, up).label == "High"  # constant sides
    assert classify_metric([1.0] * 20, [5.0] * 20, up).label == "Pass"  # wrong direction
    assert (
        classify_metric([1.0] * 20, [5.0] * 20, JudgedMetric("m", ("g",), "either")).label == "Low"
    )
    # A clear shift, but a mean ratio 1.10 below allowedIncrease 1.2: Pass.
    rng = np.random.default_rng(0)
    base = rng.normal(100, 1, 40)
    small = JudgedMetric("m", ("g",), "increase", allowed_increase=1.2)
    assert classify_metric(base + 10, base, small).label == "Pass"
    assert classify_metric(base + 30, base, small).label == "High"


def test_scores_as_hand_computed():
    a = JudgedMetric("a", ("errors",), "increase", critical=False)
    b = JudgedMetric("b", ("latency",), "increase")
    c = JudgedMetric("c", ("latency",), "increase")
    ok, high = Classification("Pass"), Classification("High")
    weights = {"errors": 60, "latency": 40}
    # latency group: 1 of 2 pass = 50; summary 60 * 1 + 40 * 0.5 = 80.
    groups, score = score_metrics([a, b, c], [ok, high, ok], weights)
    assert groups == {"errors": 100.0, "latency": 50.0} and score == 80.0
    # An unweighted group shares what is left: weights {errors: 70} -> latency weighs 30.
    assert score_metrics([a, b, c], [high, ok, ok], {"errors": 70})[1] == 30.0
    # A critical failure zeroes the score; Nodata in half the metrics too.
    assert score_metrics([a, b], [Classification("High", True), ok], weights)[1] == 0.0
    nodata = Classification("Nodata")
    assert score_metrics([a, b], [nodata, ok], weights)[1] == 0.0
    # A group whose metrics are all Nodata counts as 100 in the sum (below 50% Nodata).
    assert score_metrics([a, b, c], [ok, nodata, nodata], {"errors": 50, "latency": 50})[1] == 0.0
    verdicts = [
        judge(
            [[5.0] * 9, [1.0] * 9],
            [[1.0] * 9, [1.0] * 9],
            [a, b],
            group_weights=weights,
            pass_threshold=p,
            marginal_threshold=m,
        ).verdict
        for p, m in ((95, 75), (95, 30), (30, 20))
    ]
    assert verdicts == ["fail", "marginal", "pass"]  # score 40: errors High, latency Pass


@pytest.mark.parametrize(("n", "m"), [(10, 10), (6, 15)])
def test_single_look_false_alarm_is_the_exact_mann_whitney_size(n, m):
    # Without the 0.25·|HL| margin, a healthy look is High exactly when the continuity-
    # corrected U statistic exceeds z_0.99: an event on U alone, whose probability is an
    # exact sum over U's null distribution. With Kayenta's margin the rate can only drop.
    null = exact_u_null(n, m)
    u = np.arange(n * m + 1)
    sd = math.sqrt(n * m * (n + m + 1) / 12)
    z = (u - n * m / 2 - 0.5 * np.sign(u - n * m / 2)) / sd
    size = null[z > Q99].sum()
    rng = np.random.default_rng(2026)
    metric = JudgedMetric("m", ("g",), "increase", allowed_increase=0.0)  # no effect-size gate
    looks = 20_000  # the batch kernel, equal to the scalar judge (tested below)
    canary, baseline = rng.normal(10, 1, (looks, n)), rng.normal(10, 1, (looks, m))
    plain = int((classify_batch(canary, baseline, metric, tolerance=0.0) == 1).sum())
    margin = int((classify_batch(canary, baseline, metric) == 1).sum())
    se = math.sqrt(size * (1 - size) / looks)
    assert abs(plain / looks - size) <= 4 * se, (plain / looks, size)
    assert margin <= plain


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 12),
    m=st.integers(2, 12),
    shift=st.floats(-3, 3),
    rounding=st.sampled_from([None, 0, 1]),
    direction=st.sampled_from(["increase", "decrease", "either"]),
    allowed=st.floats(0.5, 1.5),
    tolerance=st.sampled_from([0.0, 0.25]),
)
def test_batch_classification_equals_the_scalar_judge(
    seed, n, m, shift, rounding, direction, allowed, tolerance
):
    # The engine's kernel (classify_batch) against the scalar judge, row by row: ties,
    # constant sides, identical samples and negative means included.
    rng = np.random.default_rng(seed)
    x = rng.normal(10 + shift, 1, (40, n))
    y = rng.normal(10, 1, (40, m))
    if rounding is not None:
        x, y = np.round(x, rounding), np.round(y, rounding)
    x[0], y[0] = 3.0, 3.0  # one distinct value overall
    x[1], y[1] = 5.0, 1.0  # both sides constant
    if n == m:
        x[2] = y[2][::-1]  # the same values
    x[3] -= 20  # a negative mean: the ratio's sign flips
    metric = JudgedMetric("m", ("g",), direction, allowed, 1 / allowed, critical=True)
    codes = classify_batch(x, y, metric, tolerance=tolerance)
    labels = [classify_metric(a, b, metric, tolerance=tolerance) for a, b in zip(x, y, strict=True)]
    assert [LABELS[c] for c in codes] == [c.label for c in labels]
    flags = critical_batch(codes, x, y, metric)
    assert list(flags) == [c.critical for c in labels]


def test_batch_score_equals_the_scalar_score():
    rng = np.random.default_rng(7)
    metrics = [
        JudgedMetric("a", ("errors",), "increase", critical=True),
        JudgedMetric("b", ("latency",), "increase"),
        JudgedMetric("c", ("latency",), "either"),
        JudgedMetric("d", ("other",), "decrease"),
    ]
    codes = [rng.integers(0, 3, 500).astype(np.int8) for _ in metrics]
    critical = [(c != 0) & (rng.random(500) < 0.5) if m.critical else np.zeros(500, bool)
                for c, m in zip(codes, metrics, strict=True)]  # fmt: skip
    weights = {"errors": 50, "latency": 30}
    scores = score_batch(metrics, codes, critical, weights)
    for r in range(500):
        classes = [
            Classification(LABELS[c[r]], bool(f[r])) for c, f in zip(codes, critical, strict=True)
        ]
        assert scores[r] == score_metrics(metrics, classes, weights)[1]
