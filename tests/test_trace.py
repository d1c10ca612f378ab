"""One rollout step by step: the seed's phases, and the same decision the engine made."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SEED_NOISE, SEED_SERVICE, seed_policy

from canary_mc.engine.simulate import simulate_outcomes
from canary_mc.engine.trace import RolloutPhase, trace_rollout
from canary_mc.errors import ConfigError
from canary_mc.model import Experiment, GaussianNoise, Policy, Scenario, Service, Stage

SEED_DEMO_KEYS = {"phase", "stages_completed", "total_stages", "rollback_reason", "snapshots"}
SEED_SNAPSHOT_KEYS = {
    "stage",
    "canary_err",
    "baseline_err",
    "error_delta",
    "canary_lat_ms",
    "baseline_lat_ms",
    "traffic_pct",
}


def quiet_experiment(scenario: Scenario) -> Experiment:
    """No noise, so every step's verdict can be worked out by hand."""
    policy = Policy(
        stages=[
            Stage(name="ten", traffic_pct=10, duration_steps=2, error_threshold=0.02),
            Stage(name="sixty", traffic_pct=60, duration_steps=1, error_threshold=0.02),
            Stage(name="all", traffic_pct=100, duration_steps=2, error_threshold=0.01),
        ],
        latency_threshold_ms=50,
    )
    return Experiment(
        policy=policy,
        service=Service(error_rate=0.01, latency_ms=100),
        noise=GaussianNoise(error_sigma=0, latency_sigma_ms=0),
        scenarios={"s": scenario},
    )


def test_phases_follow_the_seed_through_a_rollback():
    # +0.015 errors from stage 'all': passes the 0.02 limits, fails 0.01 at its first step.
    trace = trace_rollout(
        quiet_experiment(Scenario(error_delta=0.015, onset_stage="all")), scenario="s"
    )
    assert [s.phase for s in trace.snapshots] == [
        RolloutPhase.CANARY,
        RolloutPhase.CANARY,
        RolloutPhase.CANARY,
        RolloutPhase.PROGRESSIVE,
    ]
    assert [s.verdict for s in trace.snapshots] == ["pass", "pass", "pass", "error"]
    assert trace.phase is RolloutPhase.ROLLED_BACK
    assert trace.stages_completed == 2
    assert trace.rollback_reason == (
        "Error rate delta 0.0150 exceeds threshold 0.01 at stage 'all', step 3"
    )
    last = trace.snapshots[-1]
    assert last.canary_error_rate == pytest.approx(0.025)
    assert last.error_delta == pytest.approx(0.015)


def test_completed_trace_and_latency_reason():
    done = trace_rollout(quiet_experiment(Scenario()), scenario="s")
    assert done.phase is RolloutPhase.COMPLETED
    assert done.stages_completed == 3 and len(done.snapshots) == 5
    assert done.rollback_reason == ""
    slow = trace_rollout(quiet_experiment(Scenario(latency_delta_ms=60)), scenario="s")
    assert slow.rollback_reason == (
        "Latency delta 60.0ms exceeds threshold 50ms at stage 'ten', step 0"
    )
    assert slow.stages_completed == 0


def test_trace_is_rollout_zero_of_the_engine():
    experiment = Experiment(
        policy=seed_policy((5, 5, 5, 5, 3)),
        service=SEED_SERVICE,
        noise=SEED_NOISE,
        scenarios={"leak": Scenario(latency_ramp_ms_per_step=3)},
    )
    for seed in range(20):
        trace = trace_rollout(experiment, scenario="leak", seed=seed)
        outcomes = simulate_outcomes(
            policy=experiment.policy,
            service=SEED_SERVICE,
            noise=SEED_NOISE,
            scenario=experiment.scenarios["leak"],
            n_rollouts=1,
            seed=seed,
        )
        assert len(trace.snapshots) == outcomes.steps_run[0]
        assert (trace.phase is RolloutPhase.ROLLED_BACK) == outcomes.rolled_back[0]


def test_to_dict_has_the_seed_demo_fields():
    trace = trace_rollout(quiet_experiment(Scenario()), scenario="s")
    out = trace.to_dict()
    assert set(out) == SEED_DEMO_KEYS
    assert all(set(s) == SEED_SNAPSHOT_KEYS | {"step"} for s in out["snapshots"])


def test_negative_rates_are_clamped():
    """The seed's pitfall: Gaussian noise must not produce negative error rates or latencies."""
    experiment = Experiment(
        policy=seed_policy(),
        service=Service(error_rate=0.001, latency_ms=5),
        noise=GaussianNoise(error_sigma=0.05, latency_sigma_ms=50),
        scenarios={"better": Scenario(error_delta=-0.5, latency_delta_ms=-100)},
    )
    rates = []
    for seed in range(30):
        trace = trace_rollout(experiment, scenario="better", seed=seed)
        rates += [(s.canary_error_rate, s.canary_latency_ms) for s in trace.snapshots]
    errors, latencies = np.array(rates).T
    assert errors.min() >= 0 and latencies.min() >= 0
    assert (errors == 0).any() and (latencies == 0).any()  # the clamp was exercised


def test_unknown_scenario_is_a_config_error():
    with pytest.raises(ConfigError, match="scenario must be one of 'healthy', 's', got 'x'"):
        trace_rollout(quiet_experiment(Scenario(error_delta=1)), scenario="x")
