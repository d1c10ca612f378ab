"""Rollback rates agree with closed forms derived independently of the engine.

Under the Gaussian model the checks at different steps are independent. A step passes
when ``max(e + s_e Z, -b) <= t_e`` and ``max(l + s_l Z', -L) <= t_l``; for thresholds
``>= 0`` the clamp never turns a failure into a pass, so

    P(pass step j) = Phi((t_e - e_j) / s_e) * Phi((t_l - l_j) / s_l)

and the first failure lands in step ``j`` with probability ``prod_{i<j} q_i * (1 - q_j)``.
Every comparison allows 4 standard errors of the Monte Carlo estimate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import SEED_NOISE, SEED_SERVICE, seed_policy
from scipy import stats

from canary_mc.engine.simulate import run_experiment
from canary_mc.model import Experiment, GaussianNoise, Policy, Scenario, Service

TOLERANCE_SE = 4.0


def pass_probability(limit: float, effect: float, sigma: float) -> float:
    if sigma == 0:
        return 1.0 if effect <= limit else 0.0
    return float(stats.norm.cdf((limit - effect) / sigma))


def effects_by_hand(policy: Policy, scenario: Scenario) -> list[tuple[float, float]]:
    """Per-step (error, latency) effects, written out from the Scenario docstring."""
    names = [s.name for s in policy.stages]
    onset_stage = scenario.onset_stage or 0
    if isinstance(onset_stage, str):
        onset_stage = names.index(onset_stage)
    onset = sum(s.duration_steps for s in policy.stages[:onset_stage])
    effects = []
    for j in range(policy.n_steps):
        k = j - onset
        if k < 0:
            effects.append((0.0, 0.0))
        else:
            effects.append(
                (
                    scenario.error_delta + scenario.error_ramp_per_step * k,
                    scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * k,
                )
            )
    return effects


def first_failure_distribution(
    policy: Policy, noise: GaussianNoise, scenario: Scenario
) -> tuple[np.ndarray, float]:
    """P(first failure in stage k) for every stage, and P(rollback)."""
    per_stage = np.zeros(len(policy.stages))
    survive = 1.0
    j = 0
    effects = effects_by_hand(policy, scenario)
    for k, stage in enumerate(policy.stages):
        limit_l = (
            policy.latency_threshold_ms
            if stage.latency_threshold_ms is None
            else stage.latency_threshold_ms
        )
        for _ in range(stage.duration_steps):
            e, lat = effects[j]
            q = pass_probability(
                stage.error_threshold * policy.error_threshold_scale, e, noise.error_sigma
            ) * pass_probability(limit_l, lat, noise.latency_sigma_ms)
            per_stage[k] += survive * (1 - q)
            survive *= q
            j += 1
    return per_stage, 1 - survive


def test_seed_closed_form_value():
    """The issue's figure: the seed's policy rolls back about 19.76% of healthy canaries."""
    z = np.array([0.02, 0.015, 0.01, 0.01, 0.005]) / 0.005
    expected = 1 - np.prod(stats.norm.cdf(z)) * stats.norm.cdf(50 / 10) ** 5
    assert expected == pytest.approx(0.1976, abs=5e-5)
    _, p = first_failure_distribution(seed_policy(), SEED_NOISE, Scenario())
    assert p == pytest.approx(expected, rel=1e-12)


CASES = {
    "seed-healthy": (seed_policy(), SEED_NOISE, Scenario()),
    "seed-bake-healthy": (seed_policy((5, 5, 5, 5, 3)), SEED_NOISE, Scenario()),
    "seed-error-regression": (seed_policy(), SEED_NOISE, Scenario(error_delta=0.01)),
    "bake-latency-late-onset": (
        seed_policy((5, 5, 5, 5, 3)),
        SEED_NOISE,
        Scenario(latency_delta_ms=30, onset_stage="progressive-25pct"),
    ),
    "bake-leak-tightened": (
        seed_policy((2, 2, 2, 2, 2)).model_copy(update={"error_threshold_scale": 1.5}),
        GaussianNoise(error_sigma=0.008, latency_sigma_ms=15),
        Scenario(error_ramp_per_step=0.002, latency_ramp_ms_per_step=4, onset_stage=1),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rollback_rates_match_closed_form(case):
    policy, noise, scenario = CASES[case]
    n = 200_000
    experiment = Experiment(
        name=case,
        seed=20261127,
        rollouts=n,
        policy=policy,
        service=SEED_SERVICE,
        noise=noise,
        scenarios={"s": scenario},
    )
    estimate = run_experiment(experiment)
    result = next(s for s in estimate.scenarios if s.scenario == "s")
    per_stage, p = first_failure_distribution(policy, noise, scenario)

    se = math.sqrt(p * (1 - p) / n)
    assert abs(result.rollback.rate - p) <= TOLERANCE_SE * se + 1e-12, (result.rollback.rate, p)
    for stage, q in zip(result.stages, per_stage, strict=True):
        se_q = math.sqrt(q * (1 - q) / n)
        got = stage.rollback_fraction.rate
        assert abs(got - q) <= TOLERANCE_SE * se_q + 1e-12, (stage.stage, got, q)


def test_zero_noise_is_deterministic():
    """Without noise a rollout fails exactly where the effect first exceeds the limit."""
    policy = seed_policy((2, 2, 2, 2, 2))
    experiment = Experiment(
        policy=policy,
        service=Service(error_rate=0.01, latency_ms=100),
        noise=GaussianNoise(error_sigma=0, latency_sigma_ms=0),
        scenarios={
            # 0.01 equals the 25% and 50% stages' limit: strict '>' passes it;
            # the 100% stage's 0.005 is exceeded.
            "at-limit": Scenario(error_delta=0.01),
            "leak": Scenario(latency_ramp_ms_per_step=10),  # 60 ms > 50 at step 6
        },
        rollouts=100,
    )
    estimate = run_experiment(experiment)
    by_name = {s.scenario: s for s in estimate.scenarios}
    assert by_name["healthy"].rollback.events == 0
    at_limit = by_name["at-limit"]
    assert at_limit.rollback.events == 100
    assert [s.rollback_fraction.events for s in at_limit.stages] == [0, 0, 0, 0, 100]
    assert at_limit.mean_steps_to_decision == 9  # first step of the fifth stage
    leak = by_name["leak"]
    assert [s.rollback_fraction.events for s in leak.stages] == [0, 0, 0, 100, 0]
    assert leak.mean_steps_to_decision == 7
    assert leak.rollbacks_by_reason == {"error": 0, "latency": 100}
