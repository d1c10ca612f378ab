"""The decision rules on the counts model: counts in, per-rollout outcomes out.

Error evidence is the counts themselves (integers). Latency evidence is the difference of
the two sides' latency metrics for the threshold-type rules, and for the statistical
rules the difference of their exact normal scores weighted by the asymptotic standard
deviations (:func:`~canary_mc.engine.latency_null.latency_evidence`,
:func:`latency_metric_variance`), exactly normal under H0. See ``docs/rules.md`` ("On the
counts model").

- **Fixed schedule** (``failure_limit``, ``ztest``, ``msprt``): the observations of
  :func:`canary_mc.engine.counts.observe_counts` for the whole rollout, then "fires at
  step" arrays, the first firing step decides (as for ``threshold``).
- **Outcome-dependent schedule** (``cumulative_checks``, ``sprt``): the canary's traffic
  at a step depends on the stage each rollout has reached, so the counts are drawn step by
  step with per-rollout request counts (:func:`draw_held_step`). Each 4,096-rollout block
  is simulated whole (a short last block is padded and cut), and its generators are keyed
  by seed, block and variate and consumed step-major, so results do not depend on the
  chunking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np

from canary_mc.engine.boundaries import look_critical_values
from canary_mc.engine.counts import (
    CountsDraws,
    CountsObservations,
    CountsWorldPlan,
    TrafficPlan,
    faulty_error_rate,
    observe_counts,
    plan_traffic,
    rate_delta_exceeds,
    tally_blast,
)
from canary_mc.engine.draws import PRESENCE_VARIATE
from canary_mc.engine.latency_null import latency_evidence
from canary_mc.engine.normal import normal_quantile
from canary_mc.engine.outcomes import (
    REASON_ERROR,
    REASON_LATENCY,
    REASON_NO_DATA,
    Outcomes,
    first_coded_failure,
)
from canary_mc.engine.schedule import FaultPlan, PolicyPlan
from canary_mc.engine.spending import error_information
from canary_mc.engine.streams import BLOCK_ROLLOUTS, block_rng, blocks_of, content_key
from canary_mc.model import Policy, Scenario, Service
from canary_mc.model.rules import (
    CumulativeChecksRule,
    FailureLimitRule,
    MsprtRule,
    SprtRule,
    ThresholdRule,
    ZTestRule,
)
from canary_mc.stats.tally import BlastTally

COUNTS_HELD_KEY = content_key("canary-mc", "noise=counts", "held-schedule", "v1")
"""Stream name of the counts model drawn step by step with per-rollout traffic."""

# Failure code of a step: bit 0 error, bit 1 latency, 4 = no data (only under no_data: fail).

# --- latency evidence --------------------------------------------------------------------


def latency_metric_variance(requests: np.ndarray, world: CountsWorldPlan) -> np.ndarray:
    """Sampling variance (ms^2) of one side's latency metric over ``requests`` requests.

    Mean of ``n`` lognormal latencies (median ``m``, log-sd ``s``):
    ``m^2 e^{s^2} (e^{s^2} - 1) / n``. Sample ``q``-quantile: the asymptotic
    ``q (1 - q) / (n f(x_q)^2)`` with ``f(x_q) = phi(z_q) / (x_q s)``. Infinite where
    ``n = 0``. Healthy-service values: this is the null variance the rules standardise by.
    """
    m, s = world.latency_ms, world.latency_log_sigma
    n = np.asarray(requests, dtype=np.float64)
    if world.quantile is None:
        unit = m * m * math.exp(s * s) * math.expm1(s * s)
    else:
        q = float(world.quantile)
        z = NormalDist().inv_cdf(q)
        x = m * math.exp(s * z)
        unit = q * (1 - q) * (x * s / NormalDist().pdf(z)) ** 2
    with np.errstate(divide="ignore"):
        return np.where(n > 0, unit / np.maximum(n, 1), np.inf)


# --- fixed schedule ----------------------------------------------------------------------


def decide_counts_fixed(
    obs: CountsObservations, world: CountsWorldPlan, policy: PolicyPlan
) -> Outcomes:
    """Outcomes of ``failure_limit``, ``ztest`` or ``msprt`` on counts observations.

    Parameters
    ----------
    obs : CountsObservations
        Arrays of shape ``(n_rollouts, n_steps)``.
    world : CountsWorldPlan
    policy : PolicyPlan

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    from canary_mc.engine.rules import _failure_counts, _segments

    rule = policy.rule
    no_data = obs.no_data
    latency_delta = obs.canary_latency_ms - obs.baseline_latency_ms
    if isinstance(rule, FailureLimitRule):
        failed_e = rate_delta_exceeds(
            obs.canary_errors,
            obs.canary_requests,
            obs.baseline_errors,
            obs.baseline_requests,
            policy.error_threshold_exact,
        )
        with np.errstate(invalid="ignore"):
            failed_l = latency_delta > policy.latency_threshold_ms
        fire_e = _failure_counts(failed_e, rule, policy)
        fire_l = _failure_counts(failed_l, rule, policy)
    elif isinstance(rule, ZTestRule | MsprtRule):
        fire_e = np.zeros(no_data.shape, dtype=bool)
        fire_l = np.zeros(no_data.shape, dtype=bool)
        var_c = latency_metric_variance(obs.canary_requests[0], world)
        var_b = latency_metric_variance(obs.baseline_requests[0], world)
        var_l = var_c + var_b
        # Exactly N(0, var_l) under H0 at any request counts (engine/latency_null).
        evidence = latency_evidence(
            obs.canary_latency_ms,
            obs.canary_requests[0],
            obs.baseline_latency_ms,
            obs.baseline_requests[0],
            var_c,
            var_b,
            world,
        )
        for a, b in _segments(rule.scope, policy):
            z_e, r_e = counts_z(obs, a, b, rule)
            z_l, r_l = latency_z(evidence[:, a:b], var_l[a:b], rule)
            info_e = error_information(obs.canary_requests[0, a:b], obs.baseline_requests[0, a:b])
            info_l = np.cumsum(np.where(np.isfinite(var_l[a:b]), var_l[a:b], 0.0))
            fire_e[:, a:b] = _sum_fires(z_e, r_e, rule, info_e)
            fire_l[:, a:b] = _sum_fires(z_l, r_l, rule, info_l)
    else:
        raise ValueError(f"policy.rule: no counts kernel for kind {rule.kind!r}")
    code = fire_e.view(np.uint8) | (fire_l.view(np.uint8) << 1)
    if policy.no_data == "fail":
        code[no_data] = 4
    return first_coded_failure(code, policy)


def counts_z(
    obs: CountsObservations, a: int, b: int, rule: ZTestRule | MsprtRule
) -> tuple[np.ndarray, np.ndarray]:
    """The pooled two-proportion z on counts accumulated over steps ``[a, b)``.

    ``Z_k = (E_c/N_c - E_b/N_b) / sqrt(p (1 - p) (1/N_c + 1/N_b))`` with the pooled
    ``p = (E_c + E_b) / (N_c + N_b)``; NaN where it is undefined (no data yet, or
    ``p`` is 0 or 1). For the mixture, ``r_k = tau^2 V_1 / V_k`` with ``V`` the null
    variance's request part ``1/N_c + 1/N_b`` and ``V_1`` that of the analysis's first
    step with data: ``tau`` is in units of one step's standard deviation, as under the
    Gaussian model (``r_k = k tau^2`` when every step has the same traffic).

    Returns
    -------
    z, r : ndarray of float64, shape (n_rollouts, b - a)
    """
    ec = np.cumsum(obs.canary_errors[:, a:b], axis=1).astype(np.float64)
    nc = np.cumsum(obs.canary_requests[:, a:b], axis=1).astype(np.float64)
    eb = np.cumsum(obs.baseline_errors[:, a:b], axis=1).astype(np.float64)
    nb = np.cumsum(obs.baseline_requests[:, a:b], axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (ec + eb) / (nc + nb)
        inv = 1.0 / nc + 1.0 / nb
        z = (ec / nc - eb / nb) / np.sqrt(pooled * (1.0 - pooled) * inv)
        r = np.zeros_like(z)
        if isinstance(rule, MsprtRule):
            step_inv = 1.0 / obs.canary_requests[0, a:b] + 1.0 / obs.baseline_requests[0, a:b]
            finite = np.isfinite(step_inv)
            ref = step_inv[finite.argmax()] if finite.any() else np.inf
            r = rule.tau * rule.tau * ref / inv
    z[~np.isfinite(z)] = np.nan
    return z, r


def latency_z(
    delta: np.ndarray, variance: np.ndarray, rule: ZTestRule | MsprtRule
) -> tuple[np.ndarray, np.ndarray]:
    """Standardised running sum of latency-metric differences over an analysis.

    ``Z_k = S_k / sqrt(V_k)`` with ``S_k`` the sum of the steps' differences (steps
    without data skipped) and ``V_k`` the sum of their null variances; for the mixture
    ``r_k = tau^2 k^2 V_1 / V_k`` with ``V_1`` the first step's variance (``k tau^2``
    at constant traffic).

    Parameters
    ----------
    delta : ndarray of float64, shape (n_rollouts, K)
    variance : ndarray of float64, shape (K,)
    """
    have = np.isfinite(variance)
    s = np.cumsum(np.where(have, np.nan_to_num(delta), 0.0), axis=1)
    v = np.cumsum(np.where(have, variance, 0.0))
    k = np.cumsum(have)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = s / np.sqrt(v)
        r = np.zeros(v.shape)
        if isinstance(rule, MsprtRule) and have.any():
            r = rule.tau * rule.tau * k * k * variance[have.argmax()] / v
    z = np.where(v > 0, z, np.nan)
    return z, np.broadcast_to(r, z.shape)


def _sum_fires(
    z: np.ndarray, r: np.ndarray, rule: ZTestRule | MsprtRule, information: np.ndarray
) -> np.ndarray:
    """Fire where ``Z_k > c_k`` (ztest) or the normal-mixture likelihood ratio
    ``(1 + r)^(-1/2) exp(r Z^2 / (2 (1 + r)))`` reaches ``1/alpha`` with ``Z > 0`` (msprt).

    ``information`` (shape ``(K,)``, cumulative) sets the spending corrections' values."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if isinstance(rule, ZTestRule):
            c = np.asarray(look_critical_values(rule.correction, rule.alpha, information))
            return z > c
        log_lr = -0.5 * np.log1p(r) + r * z * z / (2.0 * (1.0 + r))
        return (z > 0) & (log_lr >= math.log(1.0 / rule.alpha))


# --- outcome-dependent schedule --------------------------------------------------------------


def stage_traffic(policy: Policy, service: Service) -> TrafficPlan:
    """Requests per side if the rollout is in stage ``s`` at its ``t``-th step.

    Returns
    -------
    TrafficPlan
        Arrays of shape ``(max_steps, n_stages)``, by :func:`plan_traffic`'s arithmetic
        (so the diurnal cycle follows the rollout's own clock).
    """
    canary, baseline = [], []
    for stage in policy.stages:
        alone = policy.model_copy(
            update={
                "stages": (stage.model_copy(update={"duration_steps": policy.max_steps}),),
                "rule": ThresholdRule(),
            }
        )
        plan = plan_traffic(alone, service)
        canary.append(plan.canary_requests)
        baseline.append(plan.baseline_requests)
    return TrafficPlan(
        canary_requests=np.stack(canary, axis=1), baseline_requests=np.stack(baseline, axis=1)
    )


@dataclass(frozen=True)
class HeldStepDraws:
    """One step of a block, drawn with per-rollout traffic (arrays of shape ``(B,)``)."""

    healthy_rate: np.ndarray
    healthy_canary_errors: np.ndarray
    baseline_errors: np.ndarray
    canary_latency_z: np.ndarray
    baseline_latency_z: np.ndarray
    presence_u: np.ndarray


def draw_held_step(
    rng: dict[str, np.random.Generator],
    world: CountsWorldPlan,
    canary_requests: np.ndarray,
    baseline_requests: np.ndarray,
) -> HeldStepDraws:
    """Draw one step of a whole block, with each rollout's own request counts.

    Same distributions as :func:`canary_mc.engine.counts.draw_counts` (lognormal rate
    jitter, binomial errors, exact order-statistic or normal latency metric).
    """
    size = canary_requests.shape
    canary_log, baseline_log = np.zeros(size), np.zeros(size)
    if world.common_sigma > 0:
        s = world.common_sigma
        common = s * rng["error-common"].standard_normal(size) - s * s / 2
        canary_log += common
        baseline_log += common
    if world.own_sigma > 0:
        s = world.own_sigma
        canary_log += s * rng["error-canary-jitter"].standard_normal(size) - s * s / 2
        baseline_log += s * rng["error-baseline-jitter"].standard_normal(size) - s * s / 2
    healthy_rate = np.minimum(world.error_rate * np.exp(canary_log), 1.0)
    baseline_rate = np.minimum(world.error_rate * np.exp(baseline_log), 1.0)
    return HeldStepDraws(
        healthy_rate=healthy_rate,
        healthy_canary_errors=rng["canary-errors"].binomial(canary_requests, healthy_rate),
        baseline_errors=rng["baseline-errors"].binomial(baseline_requests, baseline_rate),
        canary_latency_z=_latency_z(rng["canary-latency"], canary_requests, world),
        baseline_latency_z=_latency_z(rng["baseline-latency"], baseline_requests, world),
        presence_u=rng[PRESENCE_VARIATE].random(size),
    )


def _latency_z(rng: np.random.Generator, requests: np.ndarray, world: CountsWorldPlan):
    if world.quantile is None:
        z = rng.standard_normal(requests.shape)
    else:
        n = np.maximum(requests, 1)
        k = -((-world.quantile.numerator * n) // world.quantile.denominator)
        g_low = rng.standard_gamma(k.astype(np.float64))
        g_high = rng.standard_gamma((n + 1 - k).astype(np.float64))
        total = g_low + g_high
        low = g_low / total
        z = np.where(low < 0.5, normal_quantile(low), -normal_quantile(g_high / total))
    return np.where(requests == 0, np.nan, z)


@dataclass(frozen=True)
class HeldRecord:
    """What each rollout saw at its ``t``-th step (for the scalar reference), arrays of
    shape ``(n_rollouts, max_steps)``; steps after the decision hold zeros / NaN."""

    canary_errors: np.ndarray
    canary_requests: np.ndarray
    baseline_errors: np.ndarray
    baseline_requests: np.ndarray
    canary_latency_ms: np.ndarray
    baseline_latency_ms: np.ndarray


def simulate_counts_held(
    seed: int,
    start: int,
    stop: int,
    policy: Policy,
    service: Service,
    world: CountsWorldPlan,
    policy_plan: PolicyPlan,
    scenarios: dict[str, Scenario],
    *,
    record: bool = False,
) -> dict[str, tuple[Outcomes, BlastTally, HeldRecord | None]]:
    """Rollouts ``[start, stop)`` of ``cumulative_checks`` or ``sprt`` on the counts model.

    Returns
    -------
    dict of str to (Outcomes, BlastTally, HeldRecord or None)
        Per scenario; outcomes of shape ``(stop - start,)``.
    """
    from canary_mc.engine.rules import HeldFault

    traffic = stage_traffic(policy, service)
    out = {}
    for name, scenario in scenarios.items():
        fault = HeldFault.of(policy, scenario)
        parts = []
        for block, lo, hi in blocks_of(start, stop):
            full = _held_block(seed, block, world, policy_plan, traffic, fault, record)
            first = block * BLOCK_ROLLOUTS
            parts.append(tuple(_rows(x, lo - first, hi - first) for x in full))
        outcomes = Outcomes(
            **{
                f: np.concatenate([getattr(p[0], f) for p in parts])
                for f in Outcomes.__dataclass_fields__
            }
        )
        served = np.concatenate([p[1] for p in parts])
        excess = np.concatenate([p[2] for p in parts])
        held = None
        if record:
            held = HeldRecord(
                **{
                    f: np.concatenate([getattr(p[3], f) for p in parts])
                    for f in HeldRecord.__dataclass_fields__
                }
            )
        out[name] = (outcomes, tally_blast(served, excess), held)
    return out


def _rows(x, lo: int, hi: int):
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        return x[lo:hi]
    return type(x)(**{f: getattr(x, f)[lo:hi] for f in x.__dataclass_fields__})


def _held_block(
    seed: int,
    block: int,
    world: CountsWorldPlan,
    policy: PolicyPlan,
    traffic: TrafficPlan,
    fault,
    record: bool,
):
    """One whole block of rollouts with a stage pointer each, on counts drawn per step."""
    rule = policy.rule
    n = BLOCK_ROLLOUTS
    variates = (
        "error-common",
        "error-canary-jitter",
        "error-baseline-jitter",
        "canary-errors",
        "baseline-errors",
        "canary-latency",
        "baseline-latency",
        "excess-errors",
        PRESENCE_VARIATE,
    )
    rng = {v: block_rng(seed, COUNTS_HELD_KEY, block, v) for v in variates}
    first_steps = np.flatnonzero(policy.step_in_stage == 0)
    n_stages = first_steps.shape[0]
    duration = np.bincount(policy.stage_index, minlength=n_stages)
    limit_exact = [policy.error_threshold_exact[j] for j in first_steps]
    limit_l = policy.latency_threshold_ms[first_steps]
    scenario = fault.scenario

    stage = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    onset = np.full(n, fault.onset_step if fault.onset_stage == 0 else -1, dtype=np.int64)
    decision_step = np.full(n, -1, dtype=np.int64)
    decision_stage = np.full(n, -1, dtype=np.int64)
    reason = np.zeros(n, dtype=np.int8)
    steps_run = np.full(n, policy.max_steps, dtype=np.int64)
    in_stage = np.zeros(n, dtype=np.int64)
    failed = np.zeros(n, dtype=np.int64)
    llr_e, llr_l = np.zeros(n), np.zeros(n)
    accepted_e, accepted_l = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    served = np.zeros(n, dtype=np.int64)
    excess_total = np.zeros(n, dtype=np.int64)
    shape = (n, policy.max_steps)
    rec = (
        {
            "canary_errors": np.zeros(shape, np.int64),
            "canary_requests": np.zeros(shape, np.int64),
            "baseline_errors": np.zeros(shape, np.int64),
            "baseline_requests": np.zeros(shape, np.int64),
            "canary_latency_ms": np.full(shape, np.nan),
            "baseline_latency_ms": np.full(shape, np.nan),
        }
        if record
        else None
    )
    if isinstance(rule, SprtRule):
        a_bound = math.log((1.0 - rule.beta) / rule.alpha)
        b_bound = math.log(rule.beta / (1.0 - rule.alpha))
        p0 = world.error_rate
        p1 = min(p0 + rule.min_error_increase, 1.0)
        log_fail = math.log(p1 / p0) if p0 > 0 else math.inf
        log_pass = math.log1p(-p1) - math.log1p(-p0) if p1 < 1 else -math.inf

    for t in range(policy.max_steps):
        # Draw every step of the whole block (finished rollouts too): the streams then
        # advance identically whatever happened, and chunking cannot change them.
        s = np.minimum(stage, n_stages - 1)
        cn = traffic.canary_requests[t, s]
        bn = traffic.baseline_requests[t, s]
        draws = draw_held_step(rng, world, cn, bn)
        present, since = fault.present(t, s, onset, draws.presence_u)
        step_fault = FaultPlan(
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
            intermittent_q=1.0,
        )
        # Excess errors by thinning, as draw_counts does (exactly Bin(n, p') in total).
        healthy = draws.healthy_rate
        extra = faulty_error_rate(healthy, step_fault, present) - healthy
        adding = extra >= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            prob = np.where(adding, extra / (1.0 - healthy), -extra / healthy)
        prob = np.clip(np.nan_to_num(prob, nan=0.0), 0.0, 1.0)
        trials = np.where(adding, cn - draws.healthy_canary_errors, draws.healthy_canary_errors)
        changed = rng["excess-errors"].binomial(trials, prob)
        excess = np.where(adding, changed, -changed)

        step_world = replace(world, traffic=TrafficPlan(cn[:, None], bn[:, None]))
        column = {
            k: getattr(draws, k)[:, None]
            for k in (
                "healthy_rate",
                "healthy_canary_errors",
                "baseline_errors",
                "canary_latency_z",
                "baseline_latency_z",
            )
        }
        obs = observe_counts(
            CountsDraws(presence_u=None, **column),
            excess[:, None],
            step_world,
            FaultPlan(**{**step_fault.__dict__, **_columns(step_fault)}),
        )
        ce, be = obs.canary_errors[:, 0], obs.baseline_errors[:, 0]
        cl, bl = obs.canary_latency_ms[:, 0], obs.baseline_latency_ms[:, 0]
        no_data = (cn == 0) | (bn == 0)
        if rec is not None:
            for key, value in (
                ("canary_errors", ce),
                ("canary_requests", cn),
                ("baseline_errors", be),
                ("baseline_requests", bn),
                ("canary_latency_ms", cl),
                ("baseline_latency_ms", bl),
            ):
                rec[key][active, t] = value[active]
        served += np.where(active, cn, 0)
        excess_total += np.where(active, excess, 0)

        fail_no_data = active & no_data & (policy.no_data == "fail")
        with np.errstate(invalid="ignore"):
            lat_delta = cl - bl
        if isinstance(rule, CumulativeChecksRule):
            fire_e = np.zeros(n, dtype=bool)
            for k in range(n_stages):
                rows = np.flatnonzero(s == k)
                fire_e[rows] = rate_delta_exceeds(
                    ce[rows, None], cn[rows, None], be[rows, None], bn[rows, None], [limit_exact[k]]
                )[:, 0]
            with np.errstate(invalid="ignore"):
                fire_l = lat_delta > limit_l[s]
            fire_e &= active
            fire_l &= active
            check_failed = fire_e | fire_l
            failed += check_failed
            back = (check_failed & (failed >= rule.threshold)) | fail_no_data
            counts_as_pass = ~no_data | (policy.no_data == "pass")
            passed = active & ~check_failed & ~fail_no_data & counts_as_pass
            in_stage += passed
            advance = passed & (in_stage == duration[s])
        else:
            in_stage += active
            var_c, var_b = latency_metric_variance(cn, world), latency_metric_variance(bn, world)
            var_l = var_c + var_b
            evidence = latency_evidence(cl, cn, bl, bn, var_c, var_b, world)
            test_e = active & ~accepted_e & ~no_data
            test_l = active & ~accepted_l & ~no_data
            llr_e = np.where(test_e, llr_e + ce * log_fail + (cn - ce) * log_pass, llr_e)
            d = rule.min_latency_increase_ms
            with np.errstate(invalid="ignore", divide="ignore"):
                step_l = d / var_l * (evidence - d / 2.0)
            llr_l = np.where(test_l, llr_l + step_l, llr_l)
            fire_e = test_e & (llr_e >= a_bound)
            fire_l = test_l & (llr_l >= a_bound)
            accepted_e |= test_e & ~fire_e & (llr_e <= b_bound)
            accepted_l |= test_l & ~fire_l & (llr_l <= b_bound)
            back = fire_e | fire_l | fail_no_data
            advance = active & ~back & ((accepted_e & accepted_l) | (in_stage == duration[s]))

        decision_step[back] = t
        decision_stage[back] = s[back]
        reason[back] = np.where(
            fire_e[back], REASON_ERROR, np.where(fire_l[back], REASON_LATENCY, REASON_NO_DATA)
        )
        steps_run[back] = t + 1
        active &= ~back
        stage += advance
        in_stage[advance] = 0
        llr_e[advance] = 0.0
        llr_l[advance] = 0.0
        accepted_e[advance] = False
        accepted_l[advance] = False
        onset[advance & (stage == fault.onset_stage)] = t + 1 + fault.onset_step
        done = advance & (stage == n_stages)
        steps_run[done] = t + 1
        active &= ~done

    outcomes = Outcomes(
        rolled_back=decision_step >= 0,
        decision_step=decision_step,
        decision_stage=decision_stage,
        reason=reason,
        steps_run=steps_run,
    )
    return outcomes, served, excess_total, None if rec is None else HeldRecord(**rec)


def _columns(fault: FaultPlan) -> dict:
    return {
        k: getattr(fault, k)[:, None]
        for k in ("active", "error_delta", "error_relative", "latency_delta_ms", "latency_factor")
    }
