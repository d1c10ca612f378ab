"""Caveats of the statistical rules: where a rule's documented guarantee does not hold.

Each check is a pure function of a valid experiment (registered with
:func:`~canary_mc.model.caveats.caveat_check`); ``validate``, ``run`` and ``sweep`` print
what it yields, located in the file. The measured figures they cite are in
``docs/rules.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from statistics import NormalDist
from typing import TYPE_CHECKING

from canary_mc.model.caveats import Caveat, caveat_check

if TYPE_CHECKING:
    from canary_mc.model.experiment import Experiment

CLAMP_MIN_RATIO = 3.0
"""Baseline over sigma below which the Gaussian model's clamp voids the sum tests' levels."""

MIN_EXPECTED_ERRORS = 5.0
"""Expected canary errors at an analysis's first look below which the pooled z is skewed."""

UNEQUAL_INFORMATION = 1.25
"""Largest-to-smallest ratio of per-look information that Pocock's and O'Brien-Fleming's
equal-look constants are not warned about."""

SUM_TESTS = ("ztest", "sprt", "msprt")


def clamped_mean(baseline: float, sigma: float) -> float:
    """``E[max(sigma Z, -baseline)]``: the mean of a healthy delta under the clamp.

    ``sigma phi(b / sigma) - b Phi(-b / sigma)``; positive for every finite ``b / sigma``.
    """
    ratio = baseline / sigma
    unit = NormalDist()
    return sigma * unit.pdf(ratio) - baseline * unit.cdf(-ratio)


@caveat_check
def gaussian_clamp(experiment: Experiment) -> Iterator[Caveat]:
    """A sum test (ztest, sprt, msprt) on the Gaussian model with baseline/sigma < 3.

    The controller sees ``max(effect + sigma Z, -baseline)``: near a zero baseline a
    healthy canary's deltas have a positive mean, and the tests' levels (alpha, Wald's
    bound, Ville's bound) no longer hold for a metric whose bad change is an increase
    of that signal (an error or success rate, a latency; gauges are not clamped). One
    caveat per clamped signal, naming the metrics it affects.
    """
    noise, policy = experiment.noise, experiment.policy
    rule = policy.rule
    if noise.model != "gaussian" or rule.kind not in SUM_TESTS:
        return
    service = experiment.service
    for signal, field, baseline, sigma, unit in (
        ("rate", "error_sigma", service.error_rate, noise.error_sigma, ""),
        ("latency", "latency_sigma_ms", service.latency_ms, noise.latency_sigma_ms, " ms"),
    ):
        hit = [c.name for c in policy.checks if c.signal == signal and c.bad_is_increase]
        if not hit or sigma <= 0 or baseline >= CLAMP_MIN_RATIO * sigma:
            continue
        drift = clamped_mean(baseline, sigma)
        yield Caveat(
            ("noise", field),
            f"policy.rule {rule.kind} does not keep its false-alarm guarantee on metric "
            f"{', '.join(map(repr, hit))} here: the "
            f"Gaussian model clamps each delta at -baseline, and baseline/sigma = "
            f"{baseline / sigma:.3g} < {CLAMP_MIN_RATIO:g}, so a healthy canary's deltas "
            f"have mean {drift:.3g}{unit} instead of 0 (docs/rules.md, 'The Gaussian "
            "model's clamp': e.g. mSPRT 62% over 2,000 looks at baseline/sigma 1); use "
            "noise.model: counts, whose counts cannot go below zero",
        )


def _stage_information(experiment: Experiment) -> list[float]:
    """Per-step information of the error difference of each stage, up to a constant:
    ``1 / (1/n_c + 1/n_b)`` with ``n`` the stage's share of the traffic (0: no baseline).

    A latency metric's step adds null variance ``v (1/n_c + 1/n_b)``, the inverse, so its
    looks differ by the same ratio; a gauge's looks are all equal."""
    out = []
    for stage in experiment.policy.stages:
        c = stage.traffic_pct / 100
        b = c if experiment.service.baseline == "matched" else 1 - c
        out.append(0.0 if c <= 0 or b <= 0 else 1 / (1 / c + 1 / b))
    return out


@caveat_check
def unequal_looks(experiment: Experiment) -> Iterator[Caveat]:
    """Pocock / O'Brien-Fleming constants on counts when the looks' information differs."""
    rule = experiment.policy.rule
    if (
        experiment.noise.model != "counts"
        or rule.kind != "ztest"
        or rule.correction not in ("pocock", "obrien_fleming")
        or rule.scope != "rollout"
        or all(c.signal == "gauge" for c in experiment.policy.checks)
    ):
        return
    info = [i for i in _stage_information(experiment) if i > 0]
    if len(info) > 1 and max(info) > UNEQUAL_INFORMATION * min(info):
        yield Caveat(
            ("policy", "rule", "correction"),
            f"{rule.correction}'s constant assumes every look adds the same information, "
            f"but this traffic plan's looks differ by up to {max(info) / min(info):.3g}x, "
            "so the level is not alpha even at large counts (0.073 for pocock at alpha "
            "0.05 on stages 1/5/25/50%, docs/rules.md); use correction: "
            "obrien_fleming_spending, which spends alpha by the looks' real information",
        )


@caveat_check
def few_canary_errors(experiment: Experiment) -> Iterator[Caveat]:
    """A counts z-test or mSPRT on a rate metric whose first look expects fewer than 5
    canary errors."""
    rule, service = experiment.policy.rule, experiment.service
    if experiment.noise.model != "counts" or rule.kind not in ("ztest", "msprt"):
        return
    rates = [c.name for c in experiment.policy.checks if c.signal == "rate"]
    if not rates:
        return
    if rule.kind == "ztest" and rule.correction == "none":
        return  # no overall level is promised
    stages = experiment.policy.stages
    firsts = stages if rule.scope == "stage" else stages[:1]
    expected = min(
        round(service.requests_per_step * s.traffic_pct / 100) * service.error_rate for s in firsts
    )
    given_per_step = service.requests_per_second is None
    if expected < MIN_EXPECTED_ERRORS:
        yield Caveat(
            ("service", "requests_per_step" if given_per_step else "requests_per_second"),
            f"policy.rule {rule.kind}, metric {', '.join(map(repr, rates))}: the canary "
            f"expects {expected:.3g} errors at the first look (< {MIN_EXPECTED_ERRORS:g}), "
            "where the pooled z is far from normal "
            "(one error can move it past 1.7), so the false-alarm level is only roughly "
            "alpha: exact levels for alpha 0.05 on two such plans in docs/rules.md range "
            "from 0.014 (msprt) to 0.131 (pocock); obrien_fleming_spending came closest "
            "(0.045, 0.053)",
        )
