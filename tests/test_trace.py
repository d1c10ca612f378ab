"""One rollout step by step: the seed's phases, and the same decision the engine made."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SEED_NOISE, SEED_SERVICE, seed_policy

from canary_mc.engine.noise.draws import draw_gaussian
from canary_mc.engine.trace import RolloutPhase, trace_rollout
from canary_mc.errors import ConfigError
from canary_mc.model import Experiment, GaussianNoise, Policy, Scenario, Service, Stage
from canary_mc.reference import reference_rollout

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


def test_trace_agrees_with_the_scalar_reference_under_noise():
    """Decision, stages completed and phases, checked against the reference and by hand."""
    policy = seed_policy((2, 3, 2, 2, 1))
    scenario = Scenario(latency_ramp_ms_per_step=3, error_delta=0.002, onset_stage=1)
    experiment = Experiment(
        policy=policy, service=SEED_SERVICE, noise=SEED_NOISE, scenarios={"leak": scenario}
    )
    outcomes_seen = set()
    for seed in range(60):
        trace = trace_rollout(experiment, scenario="leak", seed=seed)
        draws = draw_gaussian(seed, 0, 1, policy.n_steps)
        ref = reference_rollout(
            policy, SEED_SERVICE, SEED_NOISE, scenario,
            draws.error_z[0].tolist(), draws.latency_z[0].tolist(),
        )  # fmt: skip
        assert len(trace.snapshots) == ref.steps_run
        assert (trace.phase is RolloutPhase.ROLLED_BACK) == ref.rolled_back
        assert trace.stages_completed == (ref.decision_stage if ref.rolled_back else 5)
        assert trace.snapshots[-1].verdict == (ref.reason if ref.rolled_back else "pass")
        # Phase while evaluating step j: progressive once a >= 50% stage has fully passed.
        ends = np.cumsum([s.duration_steps for s in policy.stages])
        for snap in trace.snapshots:
            passed_big = any(
                end <= snap.step and stage.traffic_pct >= 50
                for end, stage in zip(ends, policy.stages, strict=True)
            )
            want = RolloutPhase.PROGRESSIVE if passed_big else RolloutPhase.CANARY
            assert snap.phase is want, (seed, snap.step)
        outcomes_seen.add((ref.rolled_back, ref.reason, trace.stages_completed))
    assert len(outcomes_seen) >= 4  # the seeds exercised several different endings


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
