"""Properties that follow from common random numbers and from having no hidden state."""

from __future__ import annotations

import numpy as np
from conftest import EXPERIMENTS, SEED_NOISE, SEED_SERVICE, seed_policy
from hypothesis import given
from hypothesis import strategies as st
from strategies import noises, policies, services

from canary_mc.engine.simulate import run_experiment, simulate_outcomes
from canary_mc.io.experiment_file import load_experiment
from canary_mc.model import Scenario


def decision_points(outcomes) -> np.ndarray:
    """Step at which each rollout was decided; completed rollouts count as never (inf)."""
    return np.where(outcomes.rolled_back, outcomes.decision_step, np.inf)


@given(policy=policies(), service=services, noise=noises, seed=st.integers(0, 2**32))
def test_looser_thresholds_never_roll_back_earlier(policy, service, noise, seed):
    """Same draws for every scale: loosening can only delay or prevent each rollback."""
    previous = None
    for scale in (0.0, 0.5, 1.0, 1.5, 3.0):
        outcomes = simulate_outcomes(
            policy=policy.model_copy(update={"error_threshold_scale": scale}),
            service=service,
            noise=noise,
            scenario=Scenario(error_delta=0.004),
            n_rollouts=200,
            seed=seed,
        )
        points = decision_points(outcomes)
        if previous is not None:
            assert (points >= previous).all()
        previous = points


@given(
    policy=policies(),
    service=services,
    noise=noises,
    seed=st.integers(0, 2**32),
    error_delta=st.floats(0, 0.05),
    latency_delta=st.floats(0, 80),
    ramp=st.sampled_from([0.0, 0.002]),
)
def test_regressed_twin_rolls_back_no_later(
    policy, service, noise, seed, error_delta, latency_delta, ramp
):
    """A non-negative effect, on the same draws, can only bring each rollback forward."""

    def run(scenario):
        return decision_points(
            simulate_outcomes(
                policy=policy,
                service=service,
                noise=noise,
                scenario=scenario,
                n_rollouts=200,
                seed=seed,
            )
        )

    healthy = run(Scenario())
    regressed = run(
        Scenario(error_delta=error_delta, latency_delta_ms=latency_delta, error_ramp_per_step=ramp)
    )
    assert (regressed <= healthy).all()


def test_seed_yaml_is_the_seed_default_policy():
    """experiments/seed.yaml holds the seed's default_stages(), service and noise, unchanged."""
    experiment = load_experiment(EXPERIMENTS / "seed.yaml")
    assert experiment.policy == seed_policy()
    assert experiment.service == SEED_SERVICE
    assert experiment.noise == SEED_NOISE
    bake = load_experiment(EXPERIMENTS / "seed-bake.yaml")
    assert bake.policy == seed_policy((5, 5, 5, 5, 3))
    assert (bake.service, bake.noise, bake.scenarios) == (
        experiment.service,
        experiment.noise,
        experiment.scenarios,
    )


def test_nothing_leaks_between_runs(seed_experiment):
    """The seed's pitfall: state kept from one run must not change the next."""
    first = run_experiment(seed_experiment, rollouts=5000)
    other = seed_experiment.model_copy(update={"seed": 7, "noise": SEED_NOISE})
    run_experiment(other, rollouts=5000)
    assert run_experiment(seed_experiment, rollouts=5000) == first
