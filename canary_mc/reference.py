"""A plain-Python, one-rollout-at-a-time reference of the engine, written for clarity.

It follows the seed's loop (stage by stage, error rate checked before latency, strict
``>``, negative rates clamped) and reads the configs directly, not the engine's compiled
per-step plans. Its arithmetic is the documented model's (``docs/model.md``): the delta
is ``max(effect + sigma * z, -baseline)``, which differs from the seed's literal
``max(0, baseline + effect + noise) - baseline`` only by rounding at exact ties. Tests
feed it the very draws the engine used and require identical outcomes; the benchmark
measures against it. It is never used to produce results.

:func:`reference_counts_rollout` does the same for the counts model: exact ``Fraction``
rates, ``math`` for latencies, traffic recomputed from the configs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

from canary_mc.model import CountsNoise, GaussianNoise, Policy, Scenario, Service


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
    presence_u: list[float] | None = None,
) -> ReferenceOutcome:
    """Run one rollout on given standard-normal draws (one per step for each metric).

    ``presence_u`` (one uniform per step) is needed only for an intermittent scenario.
    """
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
            onset_step = step + scenario.onset_step
        error_limit = stage.error_threshold * policy.error_threshold_scale
        latency_limit = (
            policy.latency_threshold_ms
            if stage.latency_threshold_ms is None
            else stage.latency_threshold_ms
        )
        for _ in range(stage.duration_steps):
            present = (
                onset_step is not None
                and step >= onset_step
                and stage.traffic_pct >= scenario.min_traffic_pct
                and (scenario.intermittent_q >= 1 or presence_u[step] < scenario.intermittent_q)
            )
            if not present:
                error_effect = 0.0
                latency_effect = 0.0
            else:
                k = step - onset_step
                error_effect = scenario.error_delta + scenario.error_ramp_per_step * k
                latency_effect = scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * k
                if scenario.error_relative != 0:
                    error_effect += scenario.error_relative * service.error_rate
                if scenario.latency_factor != 1:
                    latency_effect += (scenario.latency_factor - 1.0) * service.latency_ms
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


def reference_counts_rollout(
    policy: Policy,
    service: Service,
    noise: CountsNoise,
    scenario: Scenario,
    draws: dict[str, list],
) -> tuple[ReferenceOutcome, int, int]:
    """One counts-model rollout on given draws, decided with ``Fraction`` arithmetic.

    ``draws`` holds one value per step under the keys ``healthy_canary_errors``,
    ``baseline_errors``, ``excess_errors`` (this scenario's), ``canary_latency_z``,
    ``baseline_latency_z`` and ``presence_u`` (``None`` values when not intermittent).

    Returns
    -------
    outcome : ReferenceOutcome
    canary_requests : int
        Requests the canary served up to and including the decision step.
    excess_errors : int
        Errors the fault caused over the same steps.
    """
    onset_stage = 0
    if scenario.onset_stage is not None:
        if isinstance(scenario.onset_stage, int):
            onset_stage = scenario.onset_stage
        else:
            onset_stage = [s.name for s in policy.stages].index(scenario.onset_stage)
    onset = sum(s.duration_steps for s in policy.stages[:onset_stage]) + scenario.onset_step
    quantile = {"p50": 0.5, "p95": 0.95, "p99": 0.99}.get(noise.latency_metric)
    sigma = noise.latency_log_sigma
    median = service.latency_ms
    z99 = NormalDist().inv_cdf(0.99)

    def metric(z: float, n: int, log_sigma: float) -> float:
        if quantile is not None:
            return median * math.exp(log_sigma * z)
        s2 = math.log1p(math.expm1(log_sigma**2) / n)
        return median * math.exp(log_sigma**2 / 2 - s2 / 2 + math.sqrt(s2) * z)

    step = 0
    served = 0
    excess = 0
    for stage_index, stage in enumerate(policy.stages):
        error_limit = Fraction(repr(stage.error_threshold)) * Fraction(
            repr(policy.error_threshold_scale)
        )
        latency_limit = (
            policy.latency_threshold_ms
            if stage.latency_threshold_ms is None
            else stage.latency_threshold_ms
        )
        for _ in range(stage.duration_steps):
            total = service.requests_per_step
            if service.diurnal_amplitude:
                wave = math.sin(2 * math.pi * step / service.diurnal_period_steps)
                total = math.floor(total * (1 + service.diurnal_amplitude * wave) + 0.5)
            n_canary = math.floor(total * Fraction(repr(stage.traffic_pct)) / 100 + Fraction(1, 2))
            n_baseline = n_canary if service.baseline == "matched" else total - n_canary
            k = step - onset
            present = (
                k >= 0
                and stage.traffic_pct >= scenario.min_traffic_pct
                and (
                    scenario.intermittent_q >= 1
                    or draws["presence_u"][step] < scenario.intermittent_q
                )
            )
            served += n_canary
            excess += draws["excess_errors"][step]
            if n_canary == 0 or n_baseline == 0:
                if policy.no_data == "fail":
                    return (
                        ReferenceOutcome(True, step, stage_index, "no_data", step + 1),
                        served,
                        excess,
                    )
                step += 1
                continue
            canary_errors = draws["healthy_canary_errors"][step] + draws["excess_errors"][step]
            error_delta = Fraction(canary_errors, n_canary) - Fraction(
                draws["baseline_errors"][step], n_baseline
            )
            baseline_latency = metric(draws["baseline_latency_z"][step], n_baseline, sigma)
            z = draws["canary_latency_z"][step]
            if not present:
                canary_latency = metric(z, n_canary, sigma)
            elif scenario.latency_tail_only:
                p99 = median * math.exp(sigma * z99)
                target = scenario.latency_factor * p99 + (
                    scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * k
                )
                wide = math.log(target / median) / z99 if target > 0 else 0.0
                canary_latency = metric(z, n_canary, max(wide, 0.0))
            else:
                canary_latency = max(
                    scenario.latency_factor * metric(z, n_canary, sigma)
                    + (scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * k),
                    0.0,
                )
            if error_delta > error_limit:
                return ReferenceOutcome(True, step, stage_index, "error", step + 1), served, excess
            if canary_latency - baseline_latency > latency_limit:
                return (
                    ReferenceOutcome(True, step, stage_index, "latency", step + 1),
                    served,
                    excess,
                )
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step), served, excess
