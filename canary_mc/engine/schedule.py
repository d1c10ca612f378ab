"""Compile frozen configs into per-step arrays that the kernels read.

A rollout has ``n_steps = sum(stage.duration_steps)`` evaluation steps. Every per-step
quantity (stage, traffic, thresholds, the scenario's effect) becomes an array of shape
``(n_steps,)`` here, once, so the kernels broadcast it against ``(n_rollouts, n_steps)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from canary_mc.model import GaussianNoise, Policy, Scenario, Service
from canary_mc.model.rules import Rule, ThresholdRule


@dataclass(frozen=True)
class PolicyPlan:
    """A policy laid out step by step.

    Attributes
    ----------
    stage_index : ndarray of int64, shape (n_steps,)
        0-based stage of each step.
    step_in_stage : ndarray of int64, shape (n_steps,)
        0-based position of each step within its stage.
    traffic_pct : ndarray of float64, shape (n_steps,)
        Canary traffic in percent at each step.
    error_threshold : ndarray of float64, shape (n_steps,)
        The stage's error threshold times ``error_threshold_scale`` (fraction).
    latency_threshold_ms : ndarray of float64, shape (n_steps,)
        The stage's latency threshold, or the policy's, in ms.
    rule : Rule
        The decision rule (``policy.rule``).
    max_steps : int
        Most steps a rollout can run (``Policy.max_steps``): more than ``n_steps`` when a
        rule can hold a stage.
    """

    stage_index: np.ndarray
    step_in_stage: np.ndarray
    traffic_pct: np.ndarray
    error_threshold: np.ndarray
    latency_threshold_ms: np.ndarray
    rule: Rule = field(default_factory=ThresholdRule)
    max_steps: int = 0

    @property
    def n_steps(self) -> int:
        return self.stage_index.shape[0]


@dataclass(frozen=True)
class WorldPlan:
    """The baseline, the noise scales and one scenario's effect, step by step.

    Attributes
    ----------
    error_rate : float
        Baseline error rate (fraction).
    latency_ms : float
        Baseline latency (ms).
    error_sigma, latency_sigma_ms : float
        Noise standard deviations (fraction, ms).
    error_effect : ndarray of float64, shape (n_steps,)
        The scenario's additive effect on the canary's error rate (fraction), on the
        fixed schedule (every stage runs its ``duration_steps``).
    latency_effect_ms : ndarray of float64, shape (n_steps,)
        The scenario's additive effect on the canary's latency (ms), likewise.
    onset_stage, error_delta, error_ramp_per_step, latency_delta_ms, latency_ramp_ms_per_step
        The scenario itself (onset as a 0-based stage index), for rules whose schedule
        depends on the outcome: their effects start when a rollout reaches the stage.
    """

    error_rate: float
    latency_ms: float
    error_sigma: float
    latency_sigma_ms: float
    error_effect: np.ndarray
    latency_effect_ms: np.ndarray
    onset_stage: int = 0
    error_delta: float = 0.0
    error_ramp_per_step: float = 0.0
    latency_delta_ms: float = 0.0
    latency_ramp_ms_per_step: float = 0.0


def plan_policy(policy: Policy) -> PolicyPlan:
    """Lay a policy out as per-step arrays of shape ``(n_steps,)``."""
    durations = [stage.duration_steps for stage in policy.stages]
    stage_index = np.repeat(np.arange(len(durations)), durations)
    step_in_stage = np.concatenate([np.arange(d) for d in durations])

    def per_stage(values: list[float]) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=np.float64), durations)

    return PolicyPlan(
        stage_index=stage_index,
        step_in_stage=step_in_stage,
        traffic_pct=per_stage([s.traffic_pct for s in policy.stages]),
        error_threshold=per_stage(
            [s.error_threshold * policy.error_threshold_scale for s in policy.stages]
        ),
        latency_threshold_ms=per_stage(
            [
                policy.latency_threshold_ms
                if s.latency_threshold_ms is None
                else s.latency_threshold_ms
                for s in policy.stages
            ]
        ),
        rule=policy.rule,
        max_steps=policy.max_steps,
    )


def plan_world(
    policy: Policy, service: Service, noise: GaussianNoise, scenario: Scenario
) -> WorldPlan:
    """Lay the world out as per-step arrays of shape ``(n_steps,)`` for one scenario."""
    onset_stage = 0 if scenario.onset_stage is None else policy.stage_index(scenario.onset_stage)
    onset_step = sum(stage.duration_steps for stage in policy.stages[:onset_stage])
    since_onset = np.arange(policy.n_steps) - onset_step
    active = since_onset >= 0
    # delta + ramp * k, evaluated as the scalar reference does, so floats agree exactly.
    error_effect = np.where(
        active, scenario.error_delta + scenario.error_ramp_per_step * since_onset, 0.0
    )
    latency_effect = np.where(
        active, scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * since_onset, 0.0
    )
    return WorldPlan(
        error_rate=service.error_rate,
        latency_ms=service.latency_ms,
        error_sigma=noise.error_sigma,
        latency_sigma_ms=noise.latency_sigma_ms,
        error_effect=error_effect,
        latency_effect_ms=latency_effect,
        onset_stage=onset_stage,
        error_delta=scenario.error_delta,
        error_ramp_per_step=scenario.error_ramp_per_step,
        latency_delta_ms=scenario.latency_delta_ms,
        latency_ramp_ms_per_step=scenario.latency_ramp_ms_per_step,
    )
