"""The Gaussian model's clamp near a zero baseline: the sum tests' levels, measured by the
engine, against an exact lattice DP of clamped increments (tests/exact_clamped.py), and
the caveat ``validate`` and ``run`` print for it.

At baseline/sigma = 1 a healthy delta ``max(sigma Z, -b)`` has mean 0.083 sigma: the
levels the docs promise (alpha, Wald's alpha/(1-beta), Ville's alpha) fail; at 3 they
hold. ``docs/rules.md`` quotes these figures."""

from __future__ import annotations

import math

import pytest
from exact_clamped import clamped_level
from scipy import integrate, stats
from typer.testing import CliRunner

from canary_mc.cli.app import app
from canary_mc.engine.rules.rules_gaussian import msprt_bounds, sprt_bounds, ztest_bounds
from canary_mc.engine.simulate import simulate_outcomes
from canary_mc.model import Experiment, GaussianNoise, Policy, Scenario, Service, Stage
from canary_mc.model.caveats import experiment_caveats
from canary_mc.model.rule_caveats import clamped_mean

SIGMA = 0.005


def test_clamped_mean_is_the_integral():
    for ratio in (0.0, 0.5, 1.0, 2.0, 3.0):
        b = ratio * SIGMA
        want = (
            b * -stats.norm.cdf(-ratio)
            + integrate.quad(lambda x: x * stats.norm.pdf(x, scale=SIGMA), -b, math.inf)[0]
        )
        assert clamped_mean(b, SIGMA) == pytest.approx(want, rel=1e-9, abs=1e-15)
    assert clamped_mean(SIGMA, SIGMA) / SIGMA == pytest.approx(0.0833, abs=1e-4)


def level(rule: dict, looks: int, ratio: float, n: int) -> float:
    """The engine's false-alarm rate: one stage of ``looks`` steps, error metric only
    (latency sigma 0 never adds evidence), baseline = ratio * sigma."""
    policy = Policy(
        stages=[Stage(name="s", traffic_pct=10, duration_steps=looks, error_threshold=0.01)],
        rule=rule,
    )
    out = simulate_outcomes(
        policy=policy,
        service=Service(error_rate=ratio * SIGMA, latency_ms=100),
        noise=GaussianNoise(error_sigma=SIGMA, latency_sigma_ms=0.0),
        scenario=Scenario(),
        n_rollouts=n,
        seed=5,
    )
    return float(out.rolled_back.mean())


CASES = {
    # rule, looks, exact DP bounds in units of sigma, strict crossing, guarantee
    "pocock": (
        {"kind": "ztest", "alpha": 0.05, "correction": "pocock"},
        23,
        lambda r: (ztest_bounds(r, 23), None),
        True,
        0.05,
    ),
    "msprt": (
        {"kind": "msprt", "alpha": 0.05, "tau": 1.0},
        600,
        lambda r: (msprt_bounds(r, 600), None),
        False,
        0.05,
    ),
    "sprt": (
        {"kind": "sprt", "alpha": 0.05, "beta": 0.2, "min_error_increase": 0.3 * SIGMA},
        400,
        lambda r: tuple(
            [b / SIGMA for b in side] for side in sprt_bounds(r, SIGMA, r.min_error_increase, 400)
        ),
        False,
        0.05 / 0.8,  # Wald: alpha' <= alpha / (1 - beta)
    ),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("ratio", [1.0, 3.0])
def test_levels_under_the_clamp_match_the_exact_dp(case, ratio):
    rule, looks, bounds, strict, guarantee = CASES[case]
    policy_rule = Policy(
        stages=[Stage(name="s", traffic_pct=10, duration_steps=1, error_threshold=0.01)],
        rule=rule,
    ).rule
    upper, lower = bounds(policy_rule)
    exact = clamped_level(ratio, upper, lower, h=0.02, strict=strict)
    n = 6000 if looks > 100 else 20_000
    rate = level(rule, looks, ratio, n)
    assert abs(rate - exact) < 4 * math.sqrt(exact * (1 - exact) / n), (rate, exact)
    if ratio == 1.0:
        assert exact > guarantee + 0.005  # the guarantee fails where the clamp bites
    else:
        assert exact <= guarantee + 0.001  # and holds at baseline/sigma = 3


def experiment(rule: dict, ratio: float, latency_ratio: float = 10.0) -> Experiment:
    return Experiment(
        policy=Policy(
            stages=[Stage(name="s", traffic_pct=10, duration_steps=5, error_threshold=0.01)],
            rule=rule,
        ),
        service=Service(error_rate=ratio * SIGMA, latency_ms=100),
        noise=GaussianNoise(error_sigma=SIGMA, latency_sigma_ms=100 / latency_ratio),
    )


def test_the_clamp_caveat_names_the_field_the_ratio_and_the_remedy():
    for kind in ("ztest", "sprt", "msprt"):
        (caveat,) = experiment_caveats(experiment({"kind": kind}, 1.0))
        assert caveat.loc == ("noise", "error_sigma")
        assert "baseline/sigma = 1 < 3" in caveat.message
        assert "mean 0.000417 instead of 0" in caveat.message  # 0.0833 sigma
        assert "use noise.model: counts" in caveat.message
        assert experiment_caveats(experiment({"kind": kind}, 3.0)) == ()
        (latency,) = experiment_caveats(experiment({"kind": kind}, 3.0, latency_ratio=2.0))
        assert latency.loc == ("noise", "latency_sigma_ms")
    for kind in ("threshold", "failure_limit", "cumulative_checks", "mannwhitney"):
        assert experiment_caveats(experiment({"kind": kind}, 0.5)) == ()


def test_validate_prints_the_clamp_caveat_located(tmp_path):
    path = tmp_path / "clamped.yaml"
    path.write_text(
        "policy:\n"
        "  rule: {kind: msprt}\n"
        "  stages:\n"
        "    - {name: s, traffic_pct: 10, duration_steps: 5, error_threshold: 0.01}\n"
        "service: {error_rate: 0.005, latency_ms: 100}\n"
        "noise:\n"
        "  error_sigma: 0.005\n"
        "  latency_sigma_ms: 10\n"
    )
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert f"warning: {path}:7:16: noise.error_sigma: policy.rule msprt" in result.stderr


def metrics_experiment(metrics: list[dict], gauges: dict | None = None) -> Experiment:
    """A Gaussian ztest at baseline/sigma = 1 on both signals, with the given metrics."""
    return Experiment.model_validate(
        {
            "policy": {
                "stages": [{"name": "s", "traffic_pct": 10, "duration_steps": 5}],
                "rule": {"kind": "ztest"},
                "metrics": metrics,
            },
            "service": {"error_rate": SIGMA, "latency_ms": 100, "gauges": gauges or {}},
            "noise": {"error_sigma": SIGMA, "latency_sigma_ms": 100},
        }
    )


def test_the_clamp_caveat_follows_the_policys_metrics():
    """On N metrics the caveat is per clamped signal and names the metrics whose bad
    change is the clamped signal's rise; gauges are not clamped, and a test for a fall of
    the error rate only gains from the drift."""
    (rate,) = experiment_caveats(metrics_experiment([{"name": "ok-rate", "kind": "success_rate"}]))
    assert rate.loc == ("noise", "error_sigma")
    assert "on metric 'ok-rate'" in rate.message
    both = experiment_caveats(
        metrics_experiment(
            [
                {"name": "err", "kind": "error_rate"},
                {"name": "p50", "kind": "latency", "stat": "p50"},
                {"name": "p99", "kind": "latency", "stat": "p99"},
            ]
        )
    )
    assert [c.loc for c in both] == [("noise", "error_sigma"), ("noise", "latency_sigma_ms")]
    assert "on metric 'p50', 'p99'" in both[1].message
    assert (
        experiment_caveats(
            metrics_experiment(
                [
                    {"name": "cpu", "kind": "gauge", "min_effect": 1},
                    {"name": "fewer-errors", "kind": "error_rate", "direction": "decrease"},
                ],
                gauges={"cpu": {"mean": 1, "sigma": 1}},
            )
        )
        == ()
    )
