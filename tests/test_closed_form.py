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


def step_distribution(policy: Policy, noise: GaussianNoise, scenario: Scenario):
    """Closed-form law of the decision.

    Returns
    -------
    error_at, latency_at : ndarray, shape (n_steps,)
        P(the rollout is rolled back at step j for that reason). The error rate is checked
        first, so a latency rollback at j needs the error check at j to pass.
    stage_of : ndarray of int, shape (n_steps,)
    """
    effects = effects_by_hand(policy, scenario)
    error_at, latency_at, stage_of = [], [], []
    survive = 1.0
    j = 0
    for k, stage in enumerate(policy.stages):
        limit_l = (
            policy.latency_threshold_ms
            if stage.latency_threshold_ms is None
            else stage.latency_threshold_ms
        )
        for _ in range(stage.duration_steps):
            e, lat = effects[j]
            p_e = pass_probability(
                stage.error_threshold * policy.error_threshold_scale, e, noise.error_sigma
            )
            p_l = pass_probability(limit_l, lat, noise.latency_sigma_ms)
            error_at.append(survive * (1 - p_e))
            latency_at.append(survive * p_e * (1 - p_l))
            stage_of.append(k)
            survive *= p_e * p_l
            j += 1
    return np.array(error_at), np.array(latency_at), np.array(stage_of)


def first_failure_distribution(
    policy: Policy, noise: GaussianNoise, scenario: Scenario
) -> tuple[np.ndarray, float]:
    """P(first failure in stage k) for every stage, and P(rollback)."""
    error_at, latency_at, stage_of = step_distribution(policy, noise, scenario)
    per_stage = np.bincount(stage_of, weights=error_at + latency_at, minlength=len(policy.stages))
    return per_stage, float(per_stage.sum())


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

    def assert_close(got: float, want: float, se: float, what: str) -> None:
        assert abs(got - want) <= TOLERANCE_SE * se + 1e-12, (what, got, want, se)

    def proportion_se(q: float) -> float:
        return math.sqrt(q * (1 - q) / n)

    assert_close(result.rollback.rate, p, proportion_se(p), "rollback rate")
    for stage, q in zip(result.stages, per_stage, strict=True):
        assert_close(stage.rollback_fraction.rate, q, proportion_se(q), stage.stage)

    error_at, latency_at, _ = step_distribution(policy, noise, scenario)
    for reason, q in (("error", error_at.sum()), ("latency", latency_at.sum())):
        assert_close(result.rollbacks_by_reason[reason] / n, q, proportion_se(q), reason)

    # Steps to a decision: j + 1 when rolled back at step j, n_steps when completed.
    steps = np.arange(1, policy.n_steps + 1, dtype=float)
    pmf = error_at + latency_at
    pmf[-1] += 1 - pmf.sum()  # completing also takes n_steps steps
    mean = float((steps * pmf).sum())
    sd = math.sqrt(float((steps**2 * pmf).sum()) - mean**2)
    assert_close(result.mean_steps_to_decision, mean, sd / math.sqrt(n), "mean steps")


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
