"""The vectorized engine gives identical per-rollout outcomes to the scalar reference."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHORTHAND, engine_outcome, reference_outcome
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import faults, noises, policies, scenarios, services

from canary_mc.engine.core.outcomes import reason_name
from canary_mc.engine.core.schedule import plan_policy, plan_world
from canary_mc.engine.noise.draws import GaussianDraws, draw_gaussian
from canary_mc.engine.rules.kernels import decide_threshold, observe
from canary_mc.engine.rules.registry import rollout_outcomes
from canary_mc.engine.simulate import simulate_outcomes
from canary_mc.reference import reference_rollout


def assert_matches_reference(policy, service, noise, scenario, draws: GaussianDraws, outcomes):
    for i in range(draws.n_rollouts):
        ref = reference_rollout(
            policy, service, noise, scenario, draws.error_z[i].tolist(), draws.latency_z[i].tolist()
        )
        got = engine_outcome(outcomes, i)
        want = reference_outcome(ref)
        assert got == want, f"rollout {i}"


@given(data=st.data(), policy=policies(), service=services, noise=noises)
def test_engine_matches_reference_on_engine_draws(data, policy, service, noise):
    scenario = data.draw(scenarios(policy))
    seed = data.draw(st.integers(0, 2**32))
    n = 64
    outcomes = simulate_outcomes(
        policy=policy, service=service, noise=noise, scenario=scenario, n_rollouts=n, seed=seed
    )
    draws = draw_gaussian(seed, 0, n, policy.n_steps)
    assert_matches_reference(policy, service, noise, scenario, draws, outcomes)


@pytest.mark.parametrize("engine_path", [True, False], ids=["unclamped-engine", "clamped-trace"])
@given(data=st.data(), policy=policies(), service=services, noise=noises)
def test_kernels_match_reference_on_adversarial_draws(engine_path, data, policy, service, noise):
    """Draws chosen by hypothesis: zeros, exact grid values and extremes hit the ties.

    Both the engine's path (no clamp) and the trace's path (clamped observations) must
    decide exactly as the reference, which clamps as the seed does.
    """
    scenario = data.draw(scenarios(policy))
    shape = (8, policy.n_steps)
    elements = st.one_of(
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, 4.0, -3.0]),
        st.floats(-6, 6, allow_nan=False, allow_infinity=False),
    )
    draws = GaussianDraws(
        error_z=data.draw(hnp.arrays(np.float64, shape, elements=elements)),
        latency_z=data.draw(hnp.arrays(np.float64, shape, elements=elements)),
    )
    world, plan = plan_world(policy, service, noise, scenario), plan_policy(policy)
    if engine_path:
        outcomes = rollout_outcomes(draws, world, plan)
    else:
        outcomes = decide_threshold(observe(draws, world), world, plan)
    assert_matches_reference(policy, service, noise, scenario, draws, outcomes)


@given(data=st.data(), policy=policies(), service=services, noise=noises)
def test_gaussian_faults_match_reference(data, policy, service, noise):
    """Every fault field under the Gaussian model: relative, factor, onset step, load, q."""
    scenario = data.draw(faults(policy))
    seed = data.draw(st.integers(0, 2**32))
    n = 64
    outcomes = simulate_outcomes(
        policy=policy, service=service, noise=noise, scenario=scenario, n_rollouts=n, seed=seed
    )
    draws = draw_gaussian(seed, 0, n, policy.n_steps, presence=scenario.intermittent)
    for i in range(n):
        ref = reference_rollout(
            policy,
            service,
            noise,
            scenario,
            draws.error_z[i].tolist(),
            draws.latency_z[i].tolist(),
            None if draws.presence_u is None else draws.presence_u[i].tolist(),
        )
        got = (
            bool(outcomes.rolled_back[i]),
            int(outcomes.decision_step[i]),
            reason_name(int(outcomes.reason[i]), SHORTHAND),
            int(outcomes.steps_run[i]),
        )
        assert got == (ref.rolled_back, ref.decision_step, ref.reason, ref.steps_run), i
