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
from functools import partial
from statistics import NormalDist

from canary_mc.model import CountsNoise, GaussianNoise, Policy, Scenario, Service
from canary_mc.model.metrics import MetricCheck
from canary_mc.model.rules import FailureLimitRule


@dataclass(frozen=True)
class ReferenceOutcome:
    """Outcome of one rollout; fields mean what they mean in ``engine.kernels.Outcomes``."""

    rolled_back: bool
    decision_step: int
    decision_stage: int
    reason: str
    steps_run: int


_CHECKS: dict[int, tuple[Policy, tuple[MetricCheck, ...]]] = {}


def checks_of(policy: Policy) -> tuple[MetricCheck, ...]:
    """``policy.checks``, resolved once per policy object (the benchmark calls the
    reference once per rollout; resolving exact limits each time would slow it down)."""
    cached = _CHECKS.get(id(policy))
    if cached is None or cached[0] is not policy:
        if len(_CHECKS) > 64:
            _CHECKS.clear()
        cached = _CHECKS[id(policy)] = (policy, policy.checks)
    return cached[1]


def onset_stage_index(policy: Policy, scenario: Scenario) -> int:
    """The 0-based stage at whose start the scenario's fault begins."""
    if scenario.onset_stage is None:
        return 0
    if isinstance(scenario.onset_stage, int):
        return scenario.onset_stage
    return [s.name for s in policy.stages].index(scenario.onset_stage)


def gaussian_effects(
    scenario: Scenario, service: Service, k: int
) -> tuple[float, float, dict[str, float]]:
    """A present fault's additive effects ``k`` steps after onset: on the error rate, on
    latency (ms), and on each gauge the scenario moves."""
    error_effect = scenario.error_delta + scenario.error_ramp_per_step * k
    latency_effect = scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * k
    if scenario.error_relative != 0:
        error_effect += scenario.error_relative * service.error_rate
    if scenario.latency_factor != 1:
        latency_effect += (scenario.latency_factor - 1.0) * service.latency_ms
    gauges = {}
    for name, fault in scenario.faults.items():
        effect = (fault.delta or 0.0) + (fault.ramp_per_step or 0.0) * k
        gauges[name] = effect + (fault.relative or 0.0) * service.gauges[name].mean
    return error_effect, latency_effect, gauges


def gaussian_value(check: MetricCheck, delta: float, base: float) -> float:
    """What a metric compares with its limits under the Gaussian model, from its
    signal's (clamped) observed delta and the known healthy value ``base``."""
    success = check.kind == "success_rate"
    if check.compare == "delta":
        value = -delta if success else delta
    else:
        canary = base + delta
        if success:
            canary, base = 1.0 - canary, 1.0 - base
        if check.compare == "ratio":
            return (
                1.0
                if canary == 0 and base == 0
                else (canary / base if base != 0 else math.copysign(math.inf, canary))
            )
        value = canary
    return value * float(check.unit) if check.unit != 1 else value


def fails_limits(check: MetricCheck, stage_index: int, value) -> bool:
    """Does ``value`` break the stage's limits of the metric (strictly)?"""
    high, low = check.max[stage_index], check.min[stage_index]
    return (high is not None and value > high) or (low is not None and value < low)


def reference_rollout(
    policy: Policy,
    service: Service,
    noise: GaussianNoise,
    scenario: Scenario,
    error_z: list[float],
    latency_z: list[float],
    presence_u: list[float] | None = None,
    gauge_z: dict[str, list[float]] | None = None,
) -> ReferenceOutcome:
    """Run one rollout on given standard-normal draws (one per step for each signal).

    ``presence_u`` (one uniform per step) is needed only for an intermittent scenario;
    ``gauge_z`` (one list per checked gauge) only for a policy with gauge metrics. The
    metrics are checked in the policy's order; the first failing one is the reason.
    """
    onset_stage = onset_stage_index(policy, scenario)
    checks = checks_of(policy)
    step = 0
    onset_step = None
    for stage_index, stage in enumerate(policy.stages):
        if stage_index == onset_stage:
            onset_step = step + scenario.onset_step
        for _ in range(stage.duration_steps):
            present = (
                onset_step is not None
                and step >= onset_step
                and stage.traffic_pct >= scenario.min_traffic_pct
                and (scenario.intermittent_q >= 1 or presence_u[step] < scenario.intermittent_q)
            )
            if present:
                error_effect, latency_effect, gauge_effects = gaussian_effects(
                    scenario, service, step - onset_step
                )
            else:
                error_effect, latency_effect, gauge_effects = 0.0, 0.0, {}
            # Observed rate max(0, base + effect + noise), minus the known baseline.
            error_delta = max(error_effect + noise.error_sigma * error_z[step], -service.error_rate)
            latency_delta = max(
                latency_effect + noise.latency_sigma_ms * latency_z[step], -service.latency_ms
            )
            for check in checks:
                if check.kind in ("error_rate", "success_rate"):
                    value = gaussian_value(check, error_delta, service.error_rate)
                elif check.kind == "latency":
                    value = gaussian_value(check, latency_delta, service.latency_ms)
                else:
                    gauge = service.gauges[check.name]
                    delta = (
                        gauge_effects.get(check.name, 0.0) + gauge.sigma * gauge_z[check.name][step]
                    )
                    value = gaussian_value(check, delta, gauge.mean)
                if fails_limits(check, stage_index, value):
                    return ReferenceOutcome(True, step, stage_index, check.name, step + 1)
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step)


def counts_rate_value(check: MetricCheck, ce: int, nc: int, be: int, nb: int) -> Fraction:
    """A rate metric's compared value on counts, exactly (``inf`` for ``x / 0``)."""
    canary, baseline = Fraction(ce, nc), Fraction(be, nb) if nb > 0 else None
    if check.kind == "success_rate":
        canary = 1 - canary
        baseline = None if baseline is None else 1 - baseline
    if check.compare == "absolute":
        return check.unit * canary
    if check.compare == "delta":
        return check.unit * (canary - baseline)
    if baseline == 0:
        return Fraction(1) if canary == 0 else math.inf
    return canary / baseline


def counts_has_data(check: MetricCheck, n_canary: int, n_baseline: int) -> bool:
    """Has a metric the data it needs at a step? The canary's requests, and for
    ``delta`` and ``ratio`` the baseline's; a gauge's canary always reports."""
    if check.kind == "gauge":
        return n_baseline > 0 or check.compare == "absolute"
    return n_canary > 0 and (n_baseline > 0 or check.compare == "absolute")


def continuous_value(check: MetricCheck, canary: float, baseline: float) -> float:
    """A latency or gauge metric's compared value (a ratio ``0 / 0`` is 1)."""
    if check.compare == "absolute":
        return canary
    if check.compare == "delta":
        return canary - baseline
    if baseline == 0:
        return 1.0 if canary == 0 else math.copysign(math.inf, canary)
    return canary / baseline


def _beyond_exact(check: MetricCheck, stage_index: int, value: Fraction) -> bool:
    """Does an exact rate value break the stage's exact limits of ``check`` (strictly)?"""
    high, low = check.max_exact[stage_index], check.min_exact[stage_index]
    return (high is not None and value > high) or (low is not None and value < low)


def reference_counts_rollout(
    policy: Policy,
    service: Service,
    noise: CountsNoise,
    scenario: Scenario,
    draws: dict[str, list],
) -> tuple[ReferenceOutcome, int, int]:
    """One counts-model rollout on given draws, decided with ``Fraction`` arithmetic,
    by the ``threshold`` rule or by ``failure_limit`` (failures and Inconclusive
    measurements counted per metric).

    ``draws`` holds one value per step under the keys ``healthy_canary_errors``,
    ``baseline_errors``, ``excess_errors`` (this scenario's), ``canary_latency_z``,
    ``baseline_latency_z`` and ``presence_u`` (``None`` values when not intermittent);
    for a latency metric of another statistic than ``noise.latency_metric``,
    ``canary_latency_z:<stat>`` and ``baseline_latency_z:<stat>``; for a gauge,
    ``canary_gauge_z:<name>`` and ``baseline_gauge_z:<name>``.

    Returns
    -------
    outcome : ReferenceOutcome
    canary_requests : int
        Requests the canary served up to and including the decision step.
    excess_errors : int
        Errors the fault caused over the same steps.
    """
    onset_stage = onset_stage_index(policy, scenario)
    onset = sum(s.duration_steps for s in policy.stages[:onset_stage]) + scenario.onset_step
    sigma = noise.latency_log_sigma
    median = service.latency_ms
    z99 = NormalDist().inv_cdf(0.99)
    levels = {"p50": 0.5, "p95": 0.95, "p99": 0.99, "p99.9": 0.999}

    def metric(z: float, n: int, log_sigma: float, stat: str) -> float:
        if stat in levels:
            return median * math.exp(log_sigma * z)
        s2 = math.log1p(math.expm1(log_sigma**2) / n)
        return median * math.exp(log_sigma**2 / 2 - s2 / 2 + math.sqrt(s2) * z)

    def latencies(stat: str, step: int, n_canary: int, n_baseline: int, present: bool, k: int):
        suffix = "" if stat == noise.latency_metric else f":{stat}"
        z = draws[f"canary_latency_z{suffix}"][step]
        baseline = (  # no baseline requests: no baseline latency (an absolute check needs none)
            metric(draws[f"baseline_latency_z{suffix}"][step], n_baseline, sigma, stat)
            if n_baseline > 0
            else math.nan
        )
        if not present:
            return metric(z, n_canary, sigma, stat), baseline
        shift = scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * k
        if scenario.latency_tail_only:
            p99 = median * math.exp(sigma * z99)
            target = scenario.latency_factor * p99 + shift
            wide = math.log(target / median) / z99 if target > 0 else 0.0
            return metric(z, n_canary, max(wide, 0.0), stat), baseline
        return max(
            scenario.latency_factor * metric(z, n_canary, sigma, stat) + shift, 0.0
        ), baseline

    checks = checks_of(policy)
    # failure_limit counts failures and Inconclusive measurements per metric; the
    # threshold rule rolls back at the first failure.
    limited = isinstance(policy.rule, FailureLimitRule)
    failures = dict.fromkeys((c.name for c in checks), 0)
    inconclusive = dict(failures)
    step = 0
    served = 0
    excess = 0
    for stage_index, stage in enumerate(policy.stages):
        if limited and policy.rule.scope == "stage":
            failures = dict.fromkeys(failures, 0)
            inconclusive = dict(failures)
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

            has = [counts_has_data(c, n_canary, n_baseline) for c in checks]
            if policy.no_data == "fail" and not all(has):
                return (
                    ReferenceOutcome(True, step, stage_index, "no_data", step + 1),
                    served,
                    excess,
                )
            canary_errors = draws["healthy_canary_errors"][step] + draws["excess_errors"][step]
            for check, with_data in zip(checks, has, strict=True):
                if not with_data:
                    continue
                if check.kind in ("error_rate", "success_rate"):
                    value = counts_rate_value(
                        check, canary_errors, n_canary, draws["baseline_errors"][step], n_baseline
                    )
                    beyond = partial(_beyond_exact, value=value, stage_index=stage_index)
                else:
                    if check.kind == "latency":
                        canary, baseline = latencies(
                            check.stat or noise.latency_metric,
                            step,
                            n_canary,
                            n_baseline,
                            present,
                            k,
                        )
                    else:
                        gauge = service.gauges[check.name]
                        canary = (
                            gauge.mean + gauge.sigma * draws[f"canary_gauge_z:{check.name}"][step]
                        )
                        if present and check.name in scenario.faults:
                            fault = scenario.faults[check.name]
                            canary += (
                                (fault.delta or 0.0)
                                + (fault.ramp_per_step or 0.0) * k
                                + (fault.relative or 0.0) * gauge.mean
                            )
                        baseline = (
                            gauge.mean + gauge.sigma * draws[f"baseline_gauge_z:{check.name}"][step]
                        )
                    beyond = partial(
                        fails_limits,
                        stage_index=stage_index,
                        value=continuous_value(check, canary, baseline),
                    )
                failed = beyond(check)
                if not limited and failed:
                    return (
                        ReferenceOutcome(True, step, stage_index, check.name, step + 1),
                        served,
                        excess,
                    )
                if limited:
                    failures[check.name] = (
                        failures[check.name] + 1
                        if failed
                        else (0 if policy.rule.consecutive else failures[check.name])
                    )
                    band = check.inconclusive
                    inconclusive[check.name] += band is not None and not failed and beyond(band)
            for name in failures if limited else ():
                if (
                    failures[name] > policy.rule.failure_limit
                    or inconclusive[name] > policy.rule.inconclusive_limit
                ):
                    return (
                        ReferenceOutcome(True, step, stage_index, name, step + 1),
                        served,
                        excess,
                    )
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step), served, excess
