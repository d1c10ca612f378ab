"""Plain-Python, one-rollout references of the decision rules, written for clarity.

Like :mod:`canary_mc.reference`, these walk a rollout stage by stage from the configs
and feed on given standard-normal draws (one per step and metric, consumed in the order
the rollout runs its steps). They share only the per-look boundaries with the engine
(``ztest_bounds``, ``msprt_bounds``, ``sprt_bounds``), whose values the tests check
against published tables and closed forms. Tests require identical outcomes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from canary_mc.engine.rules.boundaries import ztest_critical_values
from canary_mc.engine.rules.rules_gaussian import msprt_bounds, sprt_bounds, ztest_bounds
from canary_mc.engine.rules.spending import SPENDING_CORRECTIONS, spending_critical_values
from canary_mc.model import GaussianNoise, Policy, Scenario, Service
from canary_mc.model.metrics import MetricCheck
from canary_mc.model.rules import (
    CumulativeChecksRule,
    FailureLimitRule,
    MsprtRule,
    SprtRule,
    ThresholdRule,
    ZTestRule,
)
from canary_mc.reference import (
    ReferenceOutcome,
    checks_of,
    fails_limits,
    gaussian_effects,
    gaussian_value,
    onset_stage_index,
    reference_rollout,
)


def reference_rule_rollout(
    policy: Policy,
    service: Service,
    noise: GaussianNoise,
    scenario: Scenario,
    error_z: list[float],
    latency_z: list[float],
    presence_u: list[float] | None = None,
    gauge_z: dict[str, list[float]] | None = None,
) -> ReferenceOutcome:
    """Run one rollout of ``policy.rule`` on given draws (``policy.max_steps`` per signal).

    ``presence_u`` (one uniform per step) is needed only for an intermittent scenario,
    ``gauge_z`` only for gauge metrics. The fault starts ``onset_step`` steps after the
    rollout reaches ``onset_stage``. Every metric of ``policy.checks`` is judged on its
    own; the first in the policy's order wins a tie.
    """
    rule = policy.rule
    if isinstance(rule, ThresholdRule):
        return reference_rollout(
            policy, service, noise, scenario, error_z, latency_z, presence_u, gauge_z
        )
    checks = checks_of(policy)
    if getattr(rule, "alpha_split", "per_metric") == "shared" and len(checks) > 1:
        # Bonferroni: each metric at alpha / N.
        rule = rule.model_copy(update={"alpha": rule.alpha / len(checks)})
    onset_stage = onset_stage_index(policy, scenario)

    def observe(step: int, stage_start: int | None, stage_index: int) -> list[Reading]:
        # stage_start: the step at which the rollout entered the onset stage.
        onset_step = None if stage_start is None else stage_start + scenario.onset_step
        present = (
            onset_step is not None
            and step >= onset_step
            and policy.stages[stage_index].traffic_pct >= scenario.min_traffic_pct
            and (scenario.intermittent_q >= 1 or presence_u[step] < scenario.intermittent_q)
        )
        error_effect, latency_effect, gauge_effects = (
            gaussian_effects(scenario, service, step - onset_step) if present else (0.0, 0.0, {})
        )
        error = max(error_effect + noise.error_sigma * error_z[step], -service.error_rate)
        latency = max(
            latency_effect + noise.latency_sigma_ms * latency_z[step], -service.latency_ms
        )
        readings = []
        for check in checks:
            if check.kind in ("error_rate", "success_rate"):
                delta, base, sigma = error, service.error_rate, noise.error_sigma
            elif check.kind == "latency":
                delta, base, sigma = latency, service.latency_ms, noise.latency_sigma_ms
            else:
                gauge = service.gauges[check.name]
                delta = gauge_effects.get(check.name, 0.0) + gauge.sigma * gauge_z[check.name][step]
                base, sigma = gauge.mean, gauge.sigma
            # The statistical rules test the signal in the metric's bad direction.
            worse_up = (check.direction == "increase") != (check.kind == "success_rate")
            value = gaussian_value(check, delta, base)
            failed = fails_limits(check, stage_index, value)
            readings.append(
                Reading(
                    check=check,
                    failed=failed,
                    evidence=delta if worse_up else -delta,
                    sigma=sigma,
                    inconclusive=check.inconclusive is not None
                    and not failed
                    and fails_limits(check.inconclusive, stage_index, value),
                )
            )
        return readings

    if isinstance(rule, FailureLimitRule):
        return _failure_limit(rule, policy, onset_stage, observe)
    if isinstance(rule, ZTestRule | MsprtRule):
        return _sum_test(rule, policy, onset_stage, observe)
    if isinstance(rule, CumulativeChecksRule):
        return _cumulative_checks(rule, policy, onset_stage, observe)
    if isinstance(rule, SprtRule):
        return _sprt(rule, policy, onset_stage, observe)
    raise ValueError(f"no reference for rule kind {rule.kind!r}")


@dataclass(frozen=True)
class Reading:
    """One metric at one step: its check failed, its evidence (signed delta), its noise,
    and whether it was Inconclusive (outside the passing band, not failed)."""

    check: MetricCheck
    failed: bool
    evidence: float
    sigma: float
    inconclusive: bool = False


def _rolled_back(step: int, stage: int, reason: str) -> ReferenceOutcome:
    return ReferenceOutcome(True, step, stage, reason, step + 1)


def _failure_limit(rule, policy, onset_stage, observe) -> ReferenceOutcome:
    step = 0
    onset_step = None
    names = [c.name for c in checks_of(policy)]
    failures = dict.fromkeys(names, 0)
    inconclusive = dict.fromkeys(names, 0)
    for stage_index, stage in enumerate(policy.stages):
        if stage_index == onset_stage:
            onset_step = step
        if rule.scope == "stage":
            failures = dict.fromkeys(names, 0)
            inconclusive = dict.fromkeys(names, 0)
        for _ in range(stage.duration_steps):
            for reading in observe(step, onset_step, stage_index):
                name = reading.check.name
                if reading.failed:
                    failures[name] += 1
                elif rule.consecutive:
                    failures[name] = 0
                inconclusive[name] += reading.inconclusive
            for name in names:
                if (
                    failures[name] > rule.failure_limit
                    or inconclusive[name] > rule.inconclusive_limit
                ):
                    return _rolled_back(step, stage_index, name)
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step)


def _sum_test(rule, policy, onset_stage, observe) -> ReferenceOutcome:
    step = 0
    onset_step = None
    looks = 0
    names = [c.name for c in checks_of(policy)]
    for stage_index, stage in enumerate(policy.stages):
        if stage_index == onset_stage:
            onset_step = step
        if rule.scope == "stage" or stage_index == 0:
            sums = dict.fromkeys(names, 0.0)
            looks = 0
            n_looks = stage.duration_steps if rule.scope == "stage" else policy.n_steps
            if isinstance(rule, ZTestRule):
                bounds = ztest_bounds(rule, n_looks)
            else:
                bounds = msprt_bounds(rule, n_looks)
        for _ in range(stage.duration_steps):
            readings = observe(step, onset_step, stage_index)
            looks += 1
            bound = bounds[looks - 1]
            for reading in readings:
                name = reading.check.name
                sums[name] += reading.evidence
                total, sigma = sums[name], reading.sigma
                if isinstance(rule, ZTestRule):
                    fires = total > sigma * bound
                else:  # mixture likelihood ratio >= 1/alpha, on the side of the bad change
                    fires = total > 0 and total >= sigma * bound
                if fires:
                    return _rolled_back(step, stage_index, name)
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step)


def _cumulative_checks(rule, policy, onset_stage, observe) -> ReferenceOutcome:
    step = 0
    onset_step = 0 if onset_stage == 0 else None
    failed_checks = 0
    for stage_index, stage in enumerate(policy.stages):
        if stage_index == onset_stage:
            onset_step = step
        passes = 0
        while passes < stage.duration_steps:  # a failing check holds the weight
            failing = [r.check.name for r in observe(step, onset_step, stage_index) if r.failed]
            if failing:
                failed_checks += 1
                if failed_checks >= rule.threshold:
                    return _rolled_back(step, stage_index, failing[0])
            else:
                passes += 1
            step += 1
    return ReferenceOutcome(False, -1, -1, "none", step)


def _sprt(rule, policy, onset_stage, observe) -> ReferenceOutcome:
    step = 0
    onset_step = None
    checks = checks_of(policy)
    for stage_index, stage in enumerate(policy.stages):
        if stage_index == onset_stage:
            onset_step = step
        sums = {c.name: 0.0 for c in checks}
        accepted = {c.name: False for c in checks}
        for n in range(1, stage.duration_steps + 1):
            for reading in observe(step, onset_step, stage_index):
                check = reading.check
                if accepted[check.name]:
                    continue  # this metric's test has stopped
                sums[check.name] += reading.evidence
                reject, accept = sprt_bounds(
                    rule, reading.sigma, _h1_change(check, rule), stage.duration_steps
                )
                if sums[check.name] >= reject[n - 1]:
                    return _rolled_back(step, stage_index, check.name)
                if sums[check.name] <= accept[n - 1]:
                    accepted[check.name] = True
            step += 1
            if all(accepted.values()):
                break  # early acceptance: on to the next stage
    return ReferenceOutcome(False, -1, -1, "none", step)


def _h1_change(check: MetricCheck, rule: SprtRule) -> float:
    """H1's change in the signal's units: the metric's ``min_effect`` (rates in their
    unit, so divided by it), else the rule's default for the metric's kind."""
    if check.min_effect is not None:
        return check.min_effect / float(check.unit)
    if check.kind in ("error_rate", "success_rate"):
        return rule.min_error_increase
    return rule.min_latency_increase_ms


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
            # Only steps where both sides served requests are looks.
            first, last = (
                (step, step + stage.duration_steps)
                if rule.scope == "stage"
                else (0, policy.n_steps)
            )
            looked = [(r1, r2) for _, r1, _, r2 in counts[first:last] if r1 > 0 and r2 > 0]
            if rule.correction in SPENDING_CORRECTIONS and looked:
                # Information 1/(1/N_c + 1/N_b) of the requests up to each look.
                info, n1, n2 = [], 0, 0
                for r1, r2 in looked:
                    n1, n2 = n1 + r1, n2 + r2
                    info.append(1 / (1 / n1 + 1 / n2))
                c = spending_critical_values(rule.correction, tuple(info), rule.alpha)
            else:  # by the number of looks alone (or the calibrated constant)
                c = ztest_critical_values(rule, [1.0] * max(len(looked), 1))
        for _ in range(stage.duration_steps):
            e1, n1, e2, n2 = counts[step]
            if n1 == 0 or n2 == 0:
                step += 1
                continue  # no baseline (or no canary): no evidence, not a look
            ec, nc, eb, nb = ec + e1, nc + n1, eb + e2, nb + n2
            looks += 1
            if 0 < ec + eb < nc + nb:
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
