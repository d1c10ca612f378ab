"""Shared paths: many error-threshold settings decided at once equal each run alone."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import faults, noises, policies, services

from canary_mc.engine.core.outcomes import tally_outcomes
from canary_mc.engine.fastpath.shared import shared_key, tally_threshold_settings
from canary_mc.engine.simulate import simulate_outcomes, tally_experiment
from canary_mc.model import Experiment


def with_scale(experiment: Experiment, scale: float) -> Experiment:
    policy = experiment.policy.model_copy(update={"error_threshold_scale": scale})
    return experiment.model_copy(update={"policy": policy})


@settings(max_examples=60)
@given(
    data=st.data(),
    policy=policies(),
    service=services,
    noise=noises,
    scales=st.lists(
        st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.0, 1.5, 2.0, 4.0]), min_size=2, max_size=6
    ),
    seed=st.integers(0, 2**32),
    rollouts=st.integers(1, 9000),
)
def test_shared_paths_equal_each_setting_alone(
    data, policy, service, noise, scales, seed, rollouts
):
    """Any scales, in any order, repeated or not; any fault shapes; any rollout count."""
    scenarios = {f"s{i}": data.draw(faults(policy)) for i in range(2)}
    base = Experiment(
        seed=seed,
        rollouts=rollouts,
        policy=policy,
        service=service,
        noise=noise,
        scenarios=scenarios,
    )
    experiments = [with_scale(base, s) for s in scales]
    assert len({shared_key(e) for e in experiments}) == 1
    chunk = data.draw(st.sampled_from([None, 1, 5000]))
    shared = tally_threshold_settings(experiments, chunk_rollouts=chunk)
    assert shared == [tally_experiment(e) for e in experiments]


def test_stage_thresholds_that_are_nested_share_and_others_do_not(seed_experiment):
    stages = seed_experiment.policy.stages

    def with_first(threshold: float, last: float | None = None) -> Experiment:
        new = [stages[0].model_copy(update={"error_threshold": threshold}), *stages[1:]]
        if last is not None:
            new[-1] = new[-1].model_copy(update={"error_threshold": last})
        policy = seed_experiment.policy.model_copy(update={"stages": tuple(new)})
        return seed_experiment.model_copy(update={"policy": policy, "rollouts": 3000})

    nested = [with_first(t) for t in (0.03, 0.01, 0.02)]
    assert tally_threshold_settings(nested) == [tally_experiment(e) for e in nested]
    crossed = [with_first(0.01, last=0.02), with_first(0.02, last=0.01)]
    assert tally_threshold_settings(crossed) is None  # the caller runs them one by one


def test_only_the_gaussian_threshold_rule_shares(seed_experiment):
    assert shared_key(seed_experiment) is not None
    other = seed_experiment.policy.model_copy(update={"latency_threshold_ms": 40.0})
    assert shared_key(seed_experiment.model_copy(update={"policy": other})) != shared_key(
        seed_experiment
    )
    data = seed_experiment.model_dump()
    data["policy"]["rule"] = {"kind": "ztest", "alpha": 0.05}
    assert shared_key(Experiment.model_validate(data)) is None


def test_the_settings_really_differ(seed_experiment):
    """Guard against a vacuous equality: the shared tallies move with the scale."""
    experiments = [with_scale(seed_experiment, s) for s in (0.5, 1.0, 2.0)]
    rollbacks = [t["healthy"].rollbacks for t in tally_threshold_settings(experiments)]
    assert rollbacks[0] > rollbacks[1] > rollbacks[2] > 0


@settings(max_examples=60)
@given(
    data=st.data(),
    policy=policies(),
    service=services,
    noise=noises,
    seed=st.integers(0, 2**32),
    rollouts=st.integers(1, 9000),
)
def test_fused_tally_equals_tallying_each_rollouts_outcome(
    data, policy, service, noise, seed, rollouts
):
    """The engine's counting kernel against per-rollout outcomes on the same draws."""
    scenario = data.draw(faults(policy))
    outcomes = simulate_outcomes(
        policy=policy,
        service=service,
        noise=noise,
        scenario=scenario,
        n_rollouts=rollouts,
        seed=seed,
    )
    experiment = Experiment(
        seed=seed,
        rollouts=rollouts,
        policy=policy,
        service=service,
        noise=noise,
        scenarios={"s": scenario},
    )
    chunk = data.draw(st.sampled_from([None, 1, 5000]))
    tallies = tally_experiment(experiment, chunk_rollouts=chunk)
    assert tallies["s"] == tally_outcomes(outcomes, len(policy.stages), len(policy.checks))


@settings(max_examples=40)
@given(
    data=st.data(),
    policy=policies(),
    service=services,
    noise=noises,
    seed=st.integers(0, 2**32),
)
def test_nested_per_stage_thresholds_share_exactly(data, policy, service, noise, seed):
    """Settings that move each stage's threshold independently, but never downwards."""
    k = data.draw(st.integers(2, 5))
    factors = [
        sorted(data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 3.0]), min_size=k,
                                  max_size=k)))
        for _ in policy.stages
    ]  # fmt: skip
    base = Experiment(
        seed=seed,
        rollouts=3000,
        policy=policy,
        service=service,
        noise=noise,
        scenarios={"s": data.draw(faults(policy))},
    )
    experiments = []
    for v in range(k):
        stages = tuple(
            stage.model_copy(update={"error_threshold": stage.error_threshold * factors[i][v]})
            for i, stage in enumerate(policy.stages)
        )
        experiments.append(
            base.model_copy(update={"policy": policy.model_copy(update={"stages": stages})})
        )
    shared = tally_threshold_settings(experiments)
    assert shared == [tally_experiment(e) for e in experiments]
