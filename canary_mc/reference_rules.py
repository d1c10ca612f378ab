"""Plain-Python, one-rollout references of the decision rules, written for clarity.

Like :mod:`canary_mc.reference`, these walk a rollout stage by stage from the configs
and feed on given standard-normal draws (one per step and metric, consumed in the order
the rollout runs its steps). They share only the per-look boundaries with the engine
(``ztest_bounds``, ``msprt_bounds``, ``sprt_bounds``), whose values the tests check
against published tables and closed forms. Tests require identical outcomes.
"""

from __future__ import annotations

import math

from canary_mc.engine.boundaries import critical_values
from canary_mc.engine.rules import msprt_bounds, sprt_bounds, ztest_bounds
from canary_mc.engine.spending import SPENDING_CORRECTIONS, spending_critical_values
from canary_mc.model import GaussianNoise, Policy, Scenario, Service
from canary_mc.model.rules import (
    CumulativeChecksRule,
    FailureLimitRule,
    MsprtRule,
    SprtRule,
    ThresholdRule,
    ZTestRule,
)
from canary_mc.reference import ReferenceOutcome, reference_rollout


def reference_rule_rollout(
    policy: Policy,
    service: Service,
    noise: GaussianNoise,
    scenario: Scenario,
    error_z: list[float],
    latency_z: list[float],
    presence_u: list[float] | None = None,
) -> ReferenceOutcome:
    """Run one rollout of ``policy.rule`` on given draws (``policy.max_steps`` per metric).

    ``presence_u`` (one uniform per step) is needed only for an intermittent scenario.
    The fault starts ``onset_step`` steps after the rollout reaches ``onset_stage``.
    """
    rule = policy.rule
    if isinstance(rule, ThresholdRule):
        return reference_rollout(policy, service, noise, scenario, error_z, latency_z, presence_u)
    onset_stage = 0
    if scenario.onset_stage is not None:
        onset_stage = (
            scenario.onset_stage
            if isinstance(scenario.onset_stage, int)
            else policy.stage_names.index(scenario.onset_stage)
        )

    def deltas(step: int, stage_start: int | None, stage_index: int) -> tuple[float, float]:
        # stage_start: the step at which the rollout entered the onset stage.
        onset_step = None if stage_start is None else stage_start + scenario.onset_step
        present = (
            onset_step is not None
            and step >= onset_step
            and policy.stages[stage_index].traffic_pct >= scenario.min_traffic_pct
            and (scenario.intermittent_q >= 1 or presence_u[step] < scenario.intermittent_q)
        )
        if not present:
            error_effect = latency_effect = 0.0
        else:
            k = step - onset_step
            error_effect = scenario.error_delta + scenario.error_ramp_per_step * k
            latency_effect = scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * k
            if scenario.error_relative != 0:
                error_effect += scenario.error_relative * service.error_rate
            if scenario.latency_factor != 1:
                latency_effect += (scenario.latency_factor - 1.0) * service.latency_ms
        error = max(error_effect + noise.error_sigma * error_z[step], -service.error_rate)
        latency = max(
            latency_effect + noise.latency_sigma_ms * latency_z[step], -service.latency_ms
        )
        return error, latency

    def limits(stage_index: int) -> tuple[float, float]:
        stage = policy.stages[stage_index]
        latency = (
            policy.latency_threshold_ms
            if stage.latency_threshold_ms is None
            else stage.latency_threshold_ms
        )
        return stage.error_threshold * policy.error_threshold_scale, latency

    if isinstance(rule, FailureLimitRule):
        return _failure_limit(rule, policy, onset_stage, deltas, limits)
    if isinstance(rule, ZTestRule | MsprtRule):
        return _sum_test(rule, policy, noise, onset_stage, deltas)
    if isinstance(rule, CumulativeChecksRule):
        return _cumulative_checks(rule, policy, onset_stage, deltas, limits)
    if isinstance(rule, SprtRule):
        return _sprt(rule, policy, noise, onset_stage, deltas)
    raise ValueError(f"no reference for rule kind {rule.kind!r}")


def _rolled_back(step: int, stage: int, reason: str) -> ReferenceOutcome:
    return ReferenceOutcome(True, step, stage, reason, step + 1)


def _failure_limit(rule, policy, onset_stage, deltas, limits) -> ReferenceOutcome:
    step = 0
    onset_step = None
    failures = {"error": 0, "latency": 0}
    for stage_index, stage in enumerate(policy.stages):
        if stage_index == onset_stage:
            onset_step = step
        if rule.scope == "stage":
            failures = {"error": 0, "latency": 0}
        error_limit, latency_limit = limits(stage_index)
        for _ in range(stage.duration_steps):
            error, latency = deltas(step, onset_step, stage_index)
            for metric, failed in (
                ("error", error > error_limit),
                ("latency", latency > latency_limit),
            ):
                if failed:
                    failures[metric] += 1
                elif rule.consecutive:
                    failures[metric] = 0
            for metric in ("error", "latency"):
                if failures[metric] > rule.failure_limit:
                    return _rolled_back(step, stage_index, metric)
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step)


def _sum_test(rule, policy, noise, onset_stage, deltas) -> ReferenceOutcome:
    step = 0
    onset_step = None
    looks = 0
    for stage_index, stage in enumerate(policy.stages):
        if stage_index == onset_stage:
            onset_step = step
        if rule.scope == "stage" or stage_index == 0:
            error_sum = latency_sum = 0.0
            looks = 0
            n_looks = stage.duration_steps if rule.scope == "stage" else policy.n_steps
            if isinstance(rule, ZTestRule):
                bounds = ztest_bounds(rule, n_looks)
            else:
                bounds = msprt_bounds(rule, n_looks)
        for _ in range(stage.duration_steps):
            error, latency = deltas(step, onset_step, stage_index)
            error_sum += error
            latency_sum += latency
            looks += 1
            bound = bounds[looks - 1]
            for metric, total, sigma in (
                ("error", error_sum, noise.error_sigma),
                ("latency", latency_sum, noise.latency_sigma_ms),
            ):
                if isinstance(rule, ZTestRule):
                    fires = total > sigma * bound
                else:  # mixture likelihood ratio >= 1/alpha, on the side of an increase
                    fires = total > 0 and total >= sigma * bound
                if fires:
                    return _rolled_back(step, stage_index, metric)
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step)


def _cumulative_checks(rule, policy, onset_stage, deltas, limits) -> ReferenceOutcome:
    step = 0
    onset_step = 0 if onset_stage == 0 else None
    failed_checks = 0
    for stage_index, stage in enumerate(policy.stages):
        if stage_index == onset_stage:
            onset_step = step
        error_limit, latency_limit = limits(stage_index)
        passes = 0
        while passes < stage.duration_steps:  # a failing check holds the weight
            error, latency = deltas(step, onset_step, stage_index)
            if error > error_limit or latency > latency_limit:
                failed_checks += 1
                if failed_checks >= rule.threshold:
                    reason = "error" if error > error_limit else "latency"
                    return _rolled_back(step, stage_index, reason)
            else:
                passes += 1
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step)


def _sprt(rule, policy, noise, onset_stage, deltas) -> ReferenceOutcome:
    step = 0
    onset_step = None
    for stage_index, stage in enumerate(policy.stages):
        if stage_index == onset_stage:
            onset_step = step
        tests = {
            "error": sprt_bounds(
                rule, noise.error_sigma, rule.min_error_increase, stage.duration_steps
            ),
            "latency": sprt_bounds(
                rule, noise.latency_sigma_ms, rule.min_latency_increase_ms, stage.duration_steps
            ),
        }
        sums = {"error": 0.0, "latency": 0.0}
        accepted = {"error": False, "latency": False}
        for n in range(1, stage.duration_steps + 1):
            observed = dict(
                zip(("error", "latency"), deltas(step, onset_step, stage_index), strict=True)
            )
            for metric in ("error", "latency"):
                if accepted[metric]:
                    continue  # this metric's test has stopped
                sums[metric] += observed[metric]
                reject, accept = tests[metric]
                if sums[metric] >= reject[n - 1]:
                    return _rolled_back(step, stage_index, metric)
                if sums[metric] <= accept[n - 1]:
                    accepted[metric] = True
            step += 1
            if accepted["error"] and accepted["latency"]:
                break  # early acceptance: on to the next stage
    return ReferenceOutcome(False, -1, -1, "none", step)


def reference_counts_ztest(
    policy: Policy, counts: list[tuple[int, int, int, int]]
) -> ReferenceOutcome:
    """One rollout of the counts ``ztest`` on given per-step counts, error metric only.

    ``counts[j] = (canary_errors, canary_requests, baseline_errors, baseline_requests)``.
    Written as the textbook pooled two-proportion z-test; only the critical values are
    shared with the engine (checked against published constants elsewhere).
    """
    rule = policy.rule
    step = 0
    for stage_index, stage in enumerate(policy.stages):
        if rule.scope == "stage" or stage_index == 0:
            ec = nc = eb = nb = 0
            looks = 0
            n_looks = stage.duration_steps if rule.scope == "stage" else policy.n_steps
            c = critical_values(rule.correction, n_looks, rule.alpha)
            if rule.correction in SPENDING_CORRECTIONS:
                # Information 1/(1/N_c + 1/N_b) of the analysis's steps with data so far.
                info, n1, n2 = [], 0, 0
                for _, r1, _, r2 in counts[step : step + n_looks]:
                    if r1 > 0 and r2 > 0:
                        n1, n2 = n1 + r1, n2 + r2
                    info.append(1 / (1 / n1 + 1 / n2) if n1 and n2 else 0.0)
                c = spending_critical_values(rule.correction, tuple(info), rule.alpha)
        for _ in range(stage.duration_steps):
            e1, n1, e2, n2 = counts[step]
            ec, nc, eb, nb = ec + e1, nc + n1, eb + e2, nb + n2
            looks += 1
            if nc > 0 and nb > 0 and 0 < ec + eb < nc + nb:
                pooled = (ec + eb) / (nc + nb)
                z = (ec / nc - eb / nb) / math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nb))
                if z > c[looks - 1]:
                    return _rolled_back(step, stage_index, "error")
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step)


def reference_counts_sprt(
    policy: Policy,
    error_rate: float,
    counts: list[tuple[int, int, int, int]],
    traffic: list[list[int]],
) -> ReferenceOutcome:
    """One rollout of the counts ``sprt`` (Wald's binomial SPRT on canary errors, p0 the
    service's known rate), error metric only, its latency test taken as accepted at once.

    ``counts[t]`` is what the rollout saw at its ``t``-th step; ``traffic[t][s]`` is the
    canary's requests at step ``t`` in stage ``s``. Raises if the given counts were drawn
    for a different stage than this walk is in (the schedules disagree).
    """
    rule = policy.rule
    upper = math.log((1 - rule.beta) / rule.alpha)
    lower = math.log(rule.beta / (1 - rule.alpha))
    p0 = error_rate
    p1 = p0 + rule.min_error_increase
    step = 0
    for stage_index, stage in enumerate(policy.stages):
        llr = 0.0
        for _ in range(stage.duration_steps):
            errors, requests, _, baseline_requests = counts[step]
            if requests != traffic[step][stage_index]:
                raise AssertionError(f"step {step}: drawn for another stage")
            if requests > 0 and baseline_requests > 0:
                llr = llr + (
                    errors * math.log(p1 / p0)
                    + (requests - errors) * (math.log1p(-p1) - math.log1p(-p0))
                )
                if llr >= upper:
                    return _rolled_back(step, stage_index, "error")
            step += 1
            if llr <= lower:
                break  # accepted early: on to the next stage
    return ReferenceOutcome(False, -1, -1, "none", step)
