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
from canary_mc.model.metrics import MetricCheck, exact_decimal
from canary_mc.model.rules import STATISTICAL_RULES, Rule, ThresholdRule

__all__ = ["exact_decimal"]  # re-exported: the engine's exact limits use it


def split_alpha(rule: Rule, n_metrics: int) -> Rule:
    """The rule each metric is tested with: under ``alpha_split: shared`` the level is
    divided among the ``n_metrics`` metrics (Bonferroni), else the rule itself."""
    shared = getattr(rule, "alpha_split", "per_metric") == "shared"  # kayenta scores instead
    if rule.kind not in STATISTICAL_RULES or not shared or n_metrics == 1:
        return rule
    if rule.kind == "mannwhitney":
        return rule.model_copy(update={"confidence": 1.0 - (1.0 - rule.confidence) / n_metrics})
    return rule.model_copy(update={"alpha": rule.alpha / n_metrics})


@dataclass(frozen=True)
class MetricLimits:
    """One metric's limits step by step.

    Attributes
    ----------
    check : MetricCheck
    max, min : ndarray of float64, shape (n_steps,)
        ``+inf`` / ``-inf`` where the stage sets no such bound.
    max_exact, min_exact : tuple of (Fraction or None), length n_steps
    stage_max, stage_min : ndarray of float64, shape (n_stages,)
        The same by stage (rules with a stage pointer per rollout).
    inconclusive : MetricLimits or None
        ``failure_limit``: the passing band's limits (a value breaking them but not these
        is Inconclusive).
    """

    check: MetricCheck
    max: np.ndarray
    min: np.ndarray
    max_exact: tuple[Fraction | None, ...]
    min_exact: tuple[Fraction | None, ...]
    stage_max: np.ndarray
    stage_min: np.ndarray
    has_max: bool = True
    has_min: bool = False
    unclamped: bool = False
    inconclusive: MetricLimits | None = None

    @classmethod
    def of(cls, check: MetricCheck, durations: list[int]) -> MetricLimits:
        """A metric's limits laid out over stages of ``durations`` steps."""

        def per_step(values: tuple) -> tuple:
            return tuple(v for v, d in zip(values, durations, strict=True) for _ in range(d))

        stage_max = np.array([np.inf if v is None else v for v in check.max])
        stage_min = np.array([-np.inf if v is None else v for v in check.min])
        has_min = any(v is not None for v in check.min)
        return cls(
            check=check,
            max=np.repeat(stage_max, durations),
            min=np.repeat(stage_min, durations),
            max_exact=per_step(check.max_exact),
            min_exact=per_step(check.min_exact),
            stage_max=stage_max,
            stage_min=stage_min,
            has_max=any(v is not None for v in check.max),
            has_min=has_min,
            # Only max limits >= 0 on the error rate or latency, delta or absolute: a
            # clamped value is at most 0 there (delta -base, absolute 0) and passes, as
            # does the unclamped one below it (see engine.rules.kernels.observe).
            unclamped=(
                check.kind in ("error_rate", "latency")
                and check.compare != "ratio"  # 0 / 0 is 1: the clamp matters there
                and not has_min
                and bool(np.all(stage_max >= 0))
                and check.inconclusive is None  # the band may lie below 0
            ),
            inconclusive=None
            if check.inconclusive is None
            else cls.of(check.inconclusive, durations),
        )

    def inconclusive_of(self, value: np.ndarray, fails: np.ndarray) -> np.ndarray:
        """Inconclusive measurements: outside the passing band but not failing (all False
        without a band). Shapes as ``fails``."""
        if self.inconclusive is None:
            return np.zeros_like(fails)
        return self.inconclusive.fails(value) & ~fails

    def fails(self, value: np.ndarray, stage: np.ndarray | None = None) -> np.ndarray:
        """``value > max | value < min`` (strict; NaN never fails), per step (``value`` of
        shape ``(n, n_steps)``) or, with ``stage`` (shape ``(n,)``), at each rollout's
        stage's limits."""
        hi = self.max if stage is None else self.stage_max[stage]
        lo = self.min if stage is None else self.stage_min[stage]
        if self.has_max and self.has_min:
            return (value > hi) | (value < lo)
        if self.has_min:
            return value < lo
        return value > hi


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
    metrics : tuple of MetricLimits
        Every metric the policy checks (``Policy.checks``), limits step by step. The
        shorthand's are ``error`` (whose limits are ``error_threshold``) and ``latency``.
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
    metrics: tuple[MetricLimits, ...] = ()

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.check.name for m in self.metrics)

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
        rollout's own stage pointer (:class:`canary_mc.engine.rules.held.HeldFault`).
    gauges : dict of str to (float, float)
        Each gauge's healthy value and noise sd (``service.gauges``).
    gauge_effect : dict of str to ndarray of float64, shape (n_steps,)
        The scenario's additive effect on each gauge it moves.
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
    gauges: dict[str, tuple[float, float]] = field(default_factory=dict)
    gauge_effect: dict[str, np.ndarray] = field(default_factory=dict)


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
    gauge_delta, gauge_relative : dict of str to ndarray of float64, shape (n_steps,)
        Per gauge the scenario moves: ``delta + ramp_per_step * k`` and ``relative``
        where active, else 0.
    """

    active: np.ndarray
    error_delta: np.ndarray
    error_relative: np.ndarray
    latency_delta_ms: np.ndarray
    latency_factor: np.ndarray
    tail_only: bool
    intermittent_q: float
    gauge_delta: dict[str, np.ndarray] = field(default_factory=dict)
    gauge_relative: dict[str, np.ndarray] = field(default_factory=dict)

    def as_columns(self) -> FaultPlan:
        """The per-step (or per-rollout) arrays as columns, shape ``(n, 1)``, to broadcast
        against step-major blocks or one step's ``(n_rollouts, 1)`` observations."""
        return FaultPlan(
            active=self.active[:, None],
            error_delta=self.error_delta[:, None],
            error_relative=self.error_relative[:, None],
            latency_delta_ms=self.latency_delta_ms[:, None],
            latency_factor=self.latency_factor[:, None],
            tail_only=self.tail_only,
            intermittent_q=self.intermittent_q,
            gauge_delta={k: v[:, None] for k, v in self.gauge_delta.items()},
            gauge_relative={k: v[:, None] for k, v in self.gauge_relative.items()},
        )

    def gauge_effect(self, name: str, mean: float) -> np.ndarray:
        """Additive effect on a gauge of healthy value ``mean``: ``delta + relative * mean``."""
        if name not in self.gauge_delta:
            return np.zeros(self.active.shape)
        return self.gauge_delta[name] + self.gauge_relative[name] * mean


def fault_at(scenario: Scenario, present: np.ndarray, since: np.ndarray) -> FaultPlan:
    """A scenario's fault where it is ``present``, ``since`` steps after its onset.

    Used per step of the fixed schedule (arrays of shape ``(n_steps,)``) and per rollout
    of the held schedule (shape ``(n_rollouts,)``). ``delta + ramp * k`` is evaluated as
    the scalar reference does, so floats agree exactly.
    """
    return FaultPlan(
        active=present,
        error_delta=np.where(
            present, scenario.error_delta + scenario.error_ramp_per_step * since, 0.0
        ),
        error_relative=np.where(present, scenario.error_relative, 0.0),
        latency_delta_ms=np.where(
            present,
            scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * since,
            0.0,
        ),
        latency_factor=np.where(present, scenario.latency_factor, 1.0),
        tail_only=scenario.latency_tail_only,
        intermittent_q=scenario.intermittent_q,
        gauge_delta={
            name: np.where(present, (f.delta or 0.0) + (f.ramp_per_step or 0.0) * since, 0.0)
            for name, f in scenario.faults.items()
        },
        gauge_relative={
            name: np.where(present, f.relative or 0.0, 0.0) for name, f in scenario.faults.items()
        },
    )


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
    return fault_at(scenario, active, since_onset)


def checked_gauges(policy: Policy) -> tuple[str, ...]:
    """The gauges the policy's metrics read (each has its own stream)."""
    return tuple(check.name for check in policy.checks if check.kind == "gauge")


def read_signals(policy: Policy) -> tuple[str, ...]:
    """Which of the Gaussian model's ``rate`` and ``latency`` streams the policy reads."""
    kinds = {check.signal for check in policy.checks}
    return tuple(signal for signal in ("rate", "latency") if signal in kinds)


def plan_policy(policy: Policy) -> PolicyPlan:
    """Lay a policy out as per-step arrays of shape ``(n_steps,)``."""
    durations = [stage.duration_steps for stage in policy.stages]
    stage_index = np.repeat(np.arange(len(durations)), durations)
    step_in_stage = np.concatenate([np.arange(d) for d in durations])

    def per_stage(values: list[float]) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=np.float64), durations)

    checks = policy.checks
    metrics = tuple(MetricLimits.of(check, durations) for check in checks)
    shorthand = policy.metrics is None
    return PolicyPlan(
        stage_index=stage_index,
        step_in_stage=step_in_stage,
        traffic_pct=per_stage([s.traffic_pct for s in policy.stages]),
        # The shorthand's two limits, as the shared paths read them.
        error_threshold=metrics[0].max if shorthand else per_stage([np.nan] * len(durations)),
        latency_threshold_ms=metrics[1].max if shorthand else per_stage([np.nan] * len(durations)),
        rule=split_alpha(policy.rule, len(checks)),
        max_steps=policy.max_steps,
        error_threshold_exact=metrics[0].max_exact if shorthand else (),
        no_data=policy.no_data,
        metrics=metrics,
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
        gauges={name: (g.mean, g.sigma) for name, g in service.gauges.items()},
        gauge_effect={
            name: fault.gauge_effect(name, service.gauges[name].mean) for name in fault.gauge_delta
        },
    )
