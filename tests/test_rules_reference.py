"""Every rule: the vectorized kernels give identical outcomes to the scalar reference."""

from __future__ import annotations

import numpy as np
from conftest import engine_outcome, reference_outcome
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import faults, noises, policies, scenarios, services

from canary_mc.engine.core.schedule import plan_policy, plan_world
from canary_mc.engine.noise.draws import GaussianDraws, draw_gaussian
from canary_mc.engine.rules.registry import rollout_outcomes
from canary_mc.model import Policy
from canary_mc.model.rules import (
    CumulativeChecksRule,
    FailureLimitRule,
    MsprtRule,
    SprtRule,
    ZTestRule,
)
from canary_mc.reference_rules import reference_rule_rollout

rules = st.one_of(
    st.builds(
        FailureLimitRule,
        kind=st.just("failure_limit"),
        failure_limit=st.integers(0, 3),
        scope=st.sampled_from(["stage", "rollout"]),
        consecutive=st.booleans(),
    ),
    st.builds(CumulativeChecksRule, kind=st.just("cumulative_checks"), threshold=st.integers(1, 4)),
    st.builds(
        ZTestRule,
        kind=st.just("ztest"),
        alpha=st.sampled_from([0.01, 0.05, 0.3]),
        scope=st.sampled_from(["stage", "rollout"]),
        correction=st.sampled_from(["none", "bonferroni", "pocock", "obrien_fleming"]),
    ),
    st.builds(
        SprtRule,
        kind=st.just("sprt"),
        alpha=st.sampled_from([0.05, 0.2]),
        beta=st.sampled_from([0.1, 0.5]),
        min_error_increase=st.sampled_from([0.001, 0.005, 0.02]),
        min_latency_increase_ms=st.sampled_from([1.0, 10.0]),
    ),
    st.builds(
        MsprtRule,
        kind=st.just("msprt"),
        alpha=st.sampled_from([0.05, 0.3]),
        tau=st.sampled_from([0.1, 1.0, 3.0]),
        scope=st.sampled_from(["stage", "rollout"]),
    ),
)


def with_rule(policy: Policy, rule) -> Policy:
    return Policy.model_validate({**policy.model_dump(), "rule": rule.model_dump()})


def assert_matches(policy, service, noise, scenario, draws: GaussianDraws):
    outcomes = rollout_outcomes(
        draws, plan_world(policy, service, noise, scenario), plan_policy(policy)
    )
    for i in range(draws.n_rollouts):
        presence = None if draws.presence_u is None else draws.presence_u[i].tolist()
        ref = reference_rule_rollout(
            policy,
            service,
            noise,
            scenario,
            draws.error_z[i].tolist(),
            draws.latency_z[i].tolist(),
            presence,
        )
        got = engine_outcome(outcomes, i)
        want = reference_outcome(ref)
        assert got == want, f"rollout {i}: {policy.rule}"


@given(data=st.data(), policy=policies(), rule=rules, service=services, noise=noises)
def test_rules_match_reference_on_engine_draws(data, policy, rule, service, noise):
    policy = with_rule(policy, rule)
    scenario = data.draw(scenarios(policy))
    seed = data.draw(st.integers(0, 2**32))
    assert_matches(policy, service, noise, scenario, draw_gaussian(seed, 0, 48, policy.max_steps))


@given(data=st.data(), policy=policies(), rule=rules, service=services, noise=noises)
def test_rules_match_reference_with_fault_shapes(data, policy, rule, service, noise):
    """Onset by stage and step, relative changes, load gates and intermittency follow each
    rollout's own stage pointer when the schedule depends on the outcome."""
    policy = with_rule(policy, rule)
    scenario = data.draw(faults(policy))
    seed = data.draw(st.integers(0, 2**32))
    draws = draw_gaussian(seed, 0, 48, policy.max_steps, presence=True)
    assert_matches(policy, service, noise, scenario, draws)


@given(data=st.data(), policy=policies(), rule=rules, service=services, noise=noises)
def test_rules_match_reference_on_adversarial_draws(data, policy, rule, service, noise):
    """Hypothesis picks the draws: zeros, grid values and extremes hit the ties."""
    policy = with_rule(policy, rule)
    scenario = data.draw(scenarios(policy))
    shape = (6, policy.max_steps)
    elements = st.one_of(
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, 4.0, -3.0]),
        st.floats(-6, 6, allow_nan=False, allow_infinity=False),
    )
    draws = GaussianDraws(
        error_z=data.draw(hnp.arrays(np.float64, shape, elements=elements)),
        latency_z=data.draw(hnp.arrays(np.float64, shape, elements=elements)),
    )
    assert_matches(policy, service, noise, scenario, draws)
