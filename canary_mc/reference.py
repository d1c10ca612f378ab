"""A plain-Python, one-rollout-at-a-time reference of the engine, written for clarity.

It follows the seed's loop (stage by stage, error rate checked before latency, strict
``>``, negative rates clamped) and reads the configs directly, not the engine's compiled
per-step plans. Its arithmetic is the documented model's (``docs/model.md``): the delta
is ``max(effect + sigma * z, -baseline)``, which differs from the seed's literal
``max(0, baseline + effect + noise) - baseline`` only by rounding at exact ties. Tests
feed it the very draws the engine used and require identical outcomes; the benchmark
measures against it. It is never used to produce results.
"""

from __future__ import annotations

from dataclasses import dataclass

from canary_mc.model import GaussianNoise, Policy, Scenario, Service


@dataclass(frozen=True)
class ReferenceOutcome:
    """Outcome of one rollout; fields mean what they mean in ``engine.kernels.Outcomes``."""

    rolled_back: bool
    decision_step: int
    decision_stage: int
    reason: str
    steps_run: int


def reference_rollout(
    policy: Policy,
    service: Service,
    noise: GaussianNoise,
    scenario: Scenario,
    error_z: list[float],
    latency_z: list[float],
) -> ReferenceOutcome:
    """Run one rollout on given standard-normal draws (one per step for each metric)."""
    onset_stage = 0
    if scenario.onset_stage is not None:
        if isinstance(scenario.onset_stage, int):
            onset_stage = scenario.onset_stage
        else:
            onset_stage = [s.name for s in policy.stages].index(scenario.onset_stage)

    step = 0
    onset_step = None
    for stage_index, stage in enumerate(policy.stages):
        if stage_index == onset_stage:
            onset_step = step
        error_limit = stage.error_threshold * policy.error_threshold_scale
        latency_limit = (
            policy.latency_threshold_ms
            if stage.latency_threshold_ms is None
            else stage.latency_threshold_ms
        )
        for _ in range(stage.duration_steps):
            if onset_step is None:
                error_effect = 0.0
                latency_effect = 0.0
            else:
                k = step - onset_step
                error_effect = scenario.error_delta + scenario.error_ramp_per_step * k
                latency_effect = scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * k
            # Observed rate max(0, base + effect + noise), minus the known baseline.
            error_delta = max(error_effect + noise.error_sigma * error_z[step], -service.error_rate)
            latency_delta = max(
                latency_effect + noise.latency_sigma_ms * latency_z[step], -service.latency_ms
            )
            if error_delta > error_limit:
                return ReferenceOutcome(True, step, stage_index, "error", step + 1)
            if latency_delta > latency_limit:
                return ReferenceOutcome(True, step, stage_index, "latency", step + 1)
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step)
