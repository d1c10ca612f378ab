"""Compile frozen configs into per-step arrays that the kernels read.

A rollout has ``n_steps = sum(stage.duration_steps)`` evaluation steps. Every per-step
quantity (stage, traffic, thresholds, the scenario's effect) becomes an array of shape
``(n_steps,)`` here, once, so the kernels broadcast it against ``(n_rollouts, n_steps)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from canary_mc.model import GaussianNoise, Policy, Scenario, Service
from canary_mc.model.rules import Rule, ThresholdRule


def exact_decimal(value: float) -> Fraction:
    """The number a float was written as: ``0.02`` is 1/50, not the binary double near it.

    Thresholds come from text (``error_threshold: 0.02``), so the rational the user wrote
    is the shortest decimal that rounds to the float; ``repr`` gives exactly that.
    """
    return Fraction(repr(float(value)))


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
    error_threshold_exact : tuple of Fraction, length n_steps
        The error threshold as the exact decimal written in the file, times the scale
        (also exact): what the counts model compares rates with.
    no_data : {"hold", "pass", "fail"}
        The policy's ``no_data`` rule.
    """

    stage_index: np.ndarray
    step_in_stage: np.ndarray
    traffic_pct: np.ndarray
    error_threshold: np.ndarray
    latency_threshold_ms: np.ndarray
    rule: Rule = field(default_factory=ThresholdRule)
    max_steps: int = 0
    error_threshold_exact: tuple[Fraction, ...] = ()
    no_data: str = "hold"

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
    intermittent_q : float
        Probability that an active fault is present at a step.
    scenario : Scenario, onset_stage : int
        The scenario itself (and its onset stage, 0-based), for rules whose schedule
        depends on the outcome: there a fault's onset, ramp and traffic gate follow each
        rollout's own stage pointer (:class:`canary_mc.engine.rules.HeldFault`).
    """

    error_rate: float
    latency_ms: float
    error_sigma: float
    latency_sigma_ms: float
    error_effect: np.ndarray
    latency_effect_ms: np.ndarray
    intermittent_q: float = 1.0
    scenario: Scenario | None = None
    onset_stage: int = 0


@dataclass(frozen=True)
class FaultPlan:
    """One scenario's fault, step by step, for either noise model.

    Attributes
    ----------
    active : ndarray of bool, shape (n_steps,)
        After onset and at enough canary traffic (before intermittency).
    error_delta : ndarray of float64, shape (n_steps,)
        ``error_delta + error_ramp_per_step * k`` where active, else 0 (fraction).
    error_relative : ndarray of float64, shape (n_steps,)
        ``error_relative`` where active, else 0.
    latency_delta_ms : ndarray of float64, shape (n_steps,)
        ``latency_delta_ms + latency_ramp_ms_per_step * k`` where active, else 0 (ms).
    latency_factor : ndarray of float64, shape (n_steps,)
        ``latency_factor`` where active, else 1.
    tail_only : bool
    intermittent_q : float
        Probability that an active fault is present at a step.
    """

    active: np.ndarray
    error_delta: np.ndarray
    error_relative: np.ndarray
    latency_delta_ms: np.ndarray
    latency_factor: np.ndarray
    tail_only: bool
    intermittent_q: float


def plan_fault(policy: Policy, scenario: Scenario) -> FaultPlan:
    """Lay a scenario's fault out as per-step arrays of shape ``(n_steps,)``."""
    onset_stage = 0 if scenario.onset_stage is None else policy.stage_index(scenario.onset_stage)
    onset_step = sum(stage.duration_steps for stage in policy.stages[:onset_stage])
    since_onset = np.arange(policy.n_steps) - (onset_step + scenario.onset_step)
    active = since_onset >= 0
    if scenario.min_traffic_pct > 0:
        traffic = np.repeat(
            [s.traffic_pct for s in policy.stages], [s.duration_steps for s in policy.stages]
        )
        active &= traffic >= scenario.min_traffic_pct
    # delta + ramp * k, evaluated as the scalar reference does, so floats agree exactly.
    return FaultPlan(
        active=active,
        error_delta=np.where(
            active, scenario.error_delta + scenario.error_ramp_per_step * since_onset, 0.0
        ),
        error_relative=np.where(active, scenario.error_relative, 0.0),
        latency_delta_ms=np.where(
            active,
            scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * since_onset,
            0.0,
        ),
        latency_factor=np.where(active, scenario.latency_factor, 1.0),
        tail_only=scenario.latency_tail_only,
        intermittent_q=scenario.intermittent_q,
    )


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
        error_threshold_exact=tuple(
            exact_decimal(s.error_threshold) * exact_decimal(policy.error_threshold_scale)
            for s in policy.stages
            for _ in range(s.duration_steps)
        ),
        no_data=policy.no_data,
    )


def plan_world(
    policy: Policy, service: Service, noise: GaussianNoise, scenario: Scenario
) -> WorldPlan:
    """Lay the Gaussian world out as per-step arrays of shape ``(n_steps,)`` for one scenario.

    Under the Gaussian model the baseline is known, so a relative error change is
    ``error_relative * service.error_rate`` and a latency factor adds
    ``(latency_factor - 1) * service.latency_ms``.
    """
    fault = plan_fault(policy, scenario)
    error_effect = fault.error_delta
    latency_effect = fault.latency_delta_ms
    # Only when set, so the seed's arithmetic (and its results) stay bit-identical.
    if scenario.error_relative != 0:
        error_effect = error_effect + fault.error_relative * service.error_rate
    if scenario.latency_factor != 1:
        latency_effect = latency_effect + (fault.latency_factor - 1.0) * service.latency_ms
    return WorldPlan(
        error_rate=service.error_rate,
        latency_ms=service.latency_ms,
        error_sigma=noise.error_sigma,
        latency_sigma_ms=noise.latency_sigma_ms,
        error_effect=error_effect,
        latency_effect_ms=latency_effect,
        intermittent_q=scenario.intermittent_q,
        scenario=scenario,
        onset_stage=0 if scenario.onset_stage is None else policy.stage_index(scenario.onset_stage),
    )
