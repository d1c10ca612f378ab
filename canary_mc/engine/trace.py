"""One rollout, step by step, in the seed's vocabulary of phases and snapshots.

The trace of seed ``s`` is rollout 0 of a run with seed ``s``: same draws, same kernels,
so what it shows is exactly what the engine decided for that rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from canary_mc.engine.core.outcomes import REASON_ERROR, REASON_NO_DATA, Outcomes, reason_name
from canary_mc.engine.core.schedule import (
    PolicyPlan,
    checked_gauges,
    plan_fault,
    plan_policy,
    plan_world,
)
from canary_mc.engine.noise.counts import (
    compare_values,
    decide_counts_threshold,
    draw_counts,
    observe_counts,
    plan_counts_world,
    rate_fraction,
)
from canary_mc.engine.noise.draws import draw_gaussian
from canary_mc.engine.rules.kernels import (
    decide_threshold,
    metric_value,
    observe,
    signal_of_check,
)
from canary_mc.errors import ConfigError
from canary_mc.model import Experiment, Scenario

PROGRESSIVE_TRAFFIC_PCT = 50.0
"""A rollout is ``progressive`` once a stage at this much traffic or more has passed."""


class RolloutPhase(Enum):
    """The seed's rollout state machine."""

    NOT_STARTED = "not_started"
    CANARY = "canary"
    PROGRESSIVE = "progressive"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"


@dataclass(frozen=True)
class StepSnapshot:
    """What the controller saw at one evaluation step, and what it concluded.

    Rates are fractions, latencies ms, traffic percent. ``phase`` is the rollout's phase
    while the step was evaluated; ``verdict`` is ``"pass"`` or the name of the metric
    that failed (the shorthand's ``"error"`` or ``"latency"``), or ``"no_data"``.
    ``minute`` is the time at the end of the step (``policy.interval``; ``None`` without
    one). ``metrics`` (a policy with ``metrics:``): ``(name, compared value, max, min)``
    per metric, in the metric's compare units.
    """

    step: int
    stage: str
    stage_index: int
    traffic_pct: float
    canary_error_rate: float
    baseline_error_rate: float
    error_delta: float
    error_threshold: float
    canary_latency_ms: float
    baseline_latency_ms: float
    latency_delta_ms: float
    latency_threshold_ms: float
    phase: RolloutPhase
    verdict: str
    minute: float | None = None
    metrics: tuple[tuple[str, float, float | None, float | None], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The seed demo's snapshot fields (same rounding), plus the step index; with a
        ``policy.interval`` the ``minute``, with ``metrics:`` each metric's value and
        limits."""
        out: dict[str, Any] = {
            "step": self.step,
            "stage": self.stage,
            "canary_err": round(self.canary_error_rate, 4),
            "baseline_err": round(self.baseline_error_rate, 4),
            "error_delta": round(self.error_delta, 4),
            "canary_lat_ms": round(self.canary_latency_ms, 1),
            "baseline_lat_ms": round(self.baseline_latency_ms, 1),
            "traffic_pct": self.traffic_pct,
        }
        if self.minute is not None:
            out["minute"] = self.minute
        if self.metrics:
            out["metrics"] = {
                name: {"value": value, "max": high, "min": low}
                for name, value, high, low in self.metrics
            }
        return out


@dataclass(frozen=True)
class Trace:
    """A single rollout from start to decision.

    Attributes
    ----------
    phase : RolloutPhase
        ``COMPLETED`` or ``ROLLED_BACK``.
    stages_completed : int
        Stages passed in full before the decision.
    rollback_reason : str
        The seed's wording, with the numbers behind it; empty if completed.
    snapshots : tuple of StepSnapshot
        Every evaluated step, up to and including the decision.
    """

    experiment: str
    scenario: str
    seed: int
    phase: RolloutPhase
    stages_completed: int
    total_stages: int
    rollback_reason: str
    snapshots: tuple[StepSnapshot, ...]

    def to_dict(self) -> dict[str, Any]:
        """The seed demo's output fields."""
        return {
            "phase": self.phase.value,
            "stages_completed": self.stages_completed,
            "total_stages": self.total_stages,
            "rollback_reason": self.rollback_reason,
            "snapshots": [s.to_dict() for s in self.snapshots],
        }


def trace_rollout(experiment: Experiment, *, scenario: str, seed: int | None = None) -> Trace:
    """Simulate rollout 0 of ``experiment`` under ``scenario`` and record every step.

    Parameters
    ----------
    experiment : Experiment
    scenario : str
        A key of ``experiment.evaluated_scenarios``.
    seed : int, optional
        Overrides ``experiment.seed``.
    """
    scenarios = experiment.evaluated_scenarios
    if scenario not in scenarios:
        known = ", ".join(repr(name) for name in scenarios)
        raise ConfigError(f"scenario must be one of {known}, got {scenario!r}")
    if experiment.policy.rule.kind != "threshold":
        raise ConfigError(
            f"policy.rule: trace shows the threshold rule only, got {experiment.policy.rule.kind!r}"
        )
    seed = experiment.seed if seed is None else seed
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    policy = experiment.policy
    policy_plan = plan_policy(policy)
    if experiment.noise.model == "counts":
        rows = _counts_rows(experiment, scenarios[scenario], seed, policy_plan)
        (
            outcome,
            error_delta,
            latency_delta,
            canary_error,
            baseline_error,
            canary_lat,
            base_lat,
            values,
        ) = rows
    else:
        world_plan = plan_world(policy, experiment.service, experiment.noise, scenarios[scenario])
        draws = draw_gaussian(
            seed,
            0,
            1,
            policy.n_steps,
            presence=scenarios[scenario].intermittent,
            gauges=checked_gauges(policy),
        )
        observations = observe(draws, world_plan)
        outcome = decide_threshold(observations, world_plan, policy_plan)
        error_delta = observations.error_delta[0]
        latency_delta = observations.latency_delta_ms[0]
        canary_error = world_plan.error_rate + error_delta
        baseline_error = np.full(policy.n_steps, world_plan.error_rate)
        canary_lat = world_plan.latency_ms + latency_delta
        base_lat = np.full(policy.n_steps, world_plan.latency_ms)
        values = []
        for limits in policy_plan.metrics:
            delta, base, _ = signal_of_check(observations, world_plan, limits.check)
            values.append(metric_value(delta[0], base, limits.check, clamp=False))
    steps_run = int(outcome.steps_run[0])
    rolled_back = bool(outcome.rolled_back[0])

    minutes = policy.interval_minutes
    phase = RolloutPhase.CANARY
    stages_completed = 0
    snapshots = []
    for step in range(steps_run):
        stage_index = int(policy_plan.stage_index[step])
        stage = policy.stages[stage_index]
        is_decision = rolled_back and step == steps_run - 1
        verdict = (
            reason_name(int(outcome.reason[0]), policy_plan.metric_names) if is_decision else "pass"
        )
        snapshots.append(
            StepSnapshot(
                step=step,
                stage=stage.name,
                stage_index=stage_index,
                traffic_pct=stage.traffic_pct,
                canary_error_rate=float(canary_error[step]),
                baseline_error_rate=float(baseline_error[step]),
                error_delta=float(error_delta[step]),
                error_threshold=float(policy_plan.error_threshold[step]),
                canary_latency_ms=float(canary_lat[step]),
                baseline_latency_ms=float(base_lat[step]),
                latency_delta_ms=float(latency_delta[step]),
                latency_threshold_ms=float(policy_plan.latency_threshold_ms[step]),
                phase=phase,
                verdict=verdict,
                minute=None if minutes is None else (step + 1) * minutes,
                metrics=()
                if policy.metrics is None
                else tuple(
                    (
                        limits.check.name,
                        float(value[step]),
                        limits.check.max[stage_index],
                        limits.check.min[stage_index],
                    )
                    for limits, value in zip(policy_plan.metrics, values, strict=True)
                ),
            )
        )
        if not is_decision and policy_plan.step_in_stage[step] == stage.duration_steps - 1:
            stages_completed = stage_index + 1
            if stage.traffic_pct >= PROGRESSIVE_TRAFFIC_PCT:
                phase = RolloutPhase.PROGRESSIVE

    reason = ""
    if rolled_back:
        last = snapshots[-1]
        if int(outcome.reason[0]) == REASON_NO_DATA:
            reason = f"No data at stage {last.stage!r}, step {last.step} (policy.no_data: fail)"
        elif policy.metrics is not None:
            metric = policy_plan.metrics[int(outcome.reason[0]) - 1].check
            reason = (
                f"Metric {metric.name!r} ({metric.kind}, compare: {metric.compare}) fails "
                f"its limit at stage {last.stage!r}, step {last.step}"
            )
        elif int(outcome.reason[0]) == REASON_ERROR:
            reason = (
                f"Error rate delta {last.error_delta:.4f} exceeds threshold "
                f"{last.error_threshold:g} at stage {last.stage!r}, step {last.step}"
            )
        else:
            reason = (
                f"Latency delta {last.latency_delta_ms:.1f}ms exceeds threshold "
                f"{last.latency_threshold_ms:g}ms at stage {last.stage!r}, step {last.step}"
            )
    return Trace(
        experiment=experiment.name,
        scenario=scenario,
        seed=seed,
        phase=RolloutPhase.ROLLED_BACK if rolled_back else RolloutPhase.COMPLETED,
        stages_completed=stages_completed,
        total_stages=len(policy.stages),
        rollback_reason=reason,
        snapshots=tuple(snapshots),
    )


def _counts_rows(
    experiment: Experiment, scenario: Scenario, seed: int, policy_plan: PolicyPlan
) -> tuple[Outcomes, np.ndarray, ...]:
    """Rollout 0 under the counts model: outcome, then per-step deltas, rates and latencies.

    Rates of a side without requests are NaN (no data).
    """
    policy = experiment.policy
    world = plan_counts_world(policy, experiment.service, experiment.noise)
    fault = plan_fault(policy, scenario)
    draws, (excess,) = draw_counts(seed, 0, 1, world, [fault])
    o = observe_counts(draws, excess, world, fault)
    outcome = decide_counts_threshold(o, world, policy_plan)
    with np.errstate(divide="ignore", invalid="ignore"):
        canary = o.canary_errors[0] / o.canary_requests[0]
        baseline = o.baseline_errors[0] / o.baseline_requests[0]
    canary_lat, base_lat = o.canary_latency_ms[0], o.baseline_latency_ms[0]
    values = []
    for limits in policy_plan.metrics:
        check = limits.check
        if check.signal == "rate":
            num, den = rate_fraction(o, check)
            with np.errstate(divide="ignore", invalid="ignore"):
                values.append(num[0].astype(np.float64) / den[0].astype(np.float64))
        else:
            canary_x, baseline_x = (
                o.latency(world.stat_of(check), world.default_stat)
                if check.signal == "latency"
                else o.gauges[check.name]
            )
            values.append(compare_values(canary_x[0], baseline_x[0], check.compare))
    return (
        outcome,
        canary - baseline,
        canary_lat - base_lat,
        canary,
        baseline,
        canary_lat,
        base_lat,
        values,
    )
