"""The decision rules on the counts model: counts in, per-rollout outcomes out.

Error evidence is the counts themselves (integers). Latency evidence is the difference of
the two sides' latency metrics for the threshold-type rules, and for the statistical
rules the difference of their exact normal scores weighted by the asymptotic standard
deviations (:func:`~canary_mc.engine.rules.latency_null.latency_evidence`,
:func:`latency_metric_variance`), exactly normal under H0, for every latency metric.
See ``docs/rules.md`` ("On the counts model").

- **Fixed schedule** (``failure_limit``, ``ztest``, ``msprt``): the observations of
  :func:`canary_mc.engine.noise.counts.observe_counts` for the whole rollout, then "fires at
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

from canary_mc.engine.core.outcomes import Outcomes, first_coded_failure, metric_codes
from canary_mc.engine.core.schedule import MetricLimits, PolicyPlan, fault_at
from canary_mc.engine.core.streams import BLOCK_ROLLOUTS, block_rng, blocks_of, content_key
from canary_mc.engine.noise.counts import (
    CountsDraws,
    CountsObservations,
    CountsWorldPlan,
    TrafficPlan,
    counts_fails,
    draw_latency_z,
    jittered_rates,
    metric_fails_counts,
    observe_counts,
    plan_traffic,
    tally_blast,
    thinned_excess,
)
from canary_mc.engine.noise.draws import PRESENCE_VARIATE
from canary_mc.engine.rules.boundaries import ztest_critical_values
from canary_mc.engine.rules.common import analysis_stops, segments, sprt_effect, stat_sign
from canary_mc.engine.rules.held import HeldFault, StepEvidence, run_held
from canary_mc.engine.rules.latency_null import latency_evidence
from canary_mc.model import Policy, Scenario, Service
from canary_mc.model.metrics import QUANTILE_LEVELS, MetricCheck
from canary_mc.model.rules import (
    MsprtRule,
    ThresholdRule,
    ZTestRule,
)
from canary_mc.stats.tally import BlastTally

COUNTS_HELD_KEY = content_key("canary-mc", "noise=counts", "held-schedule", "v1")
"""Stream name of the counts model drawn step by step with per-rollout traffic."""

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


def counts_failure_limit(
    obs: CountsObservations, world: CountsWorldPlan, policy: PolicyPlan
) -> Outcomes:
    """``failure_limit`` on counts: each metric's own failure count (exact checks).

    Parameters
    ----------
    obs : CountsObservations
        Arrays of shape ``(n_rollouts, n_steps)``.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    failed, no_data = counts_fails(obs, world, policy)
    fires = []
    for limits, fails in zip(policy.metrics, failed, strict=True):
        # Outside the passing band (exactly, as the limits) but not failing: Inconclusive.
        band = (
            np.zeros_like(fails)
            if limits.inconclusive is None
            else metric_fails_counts(obs, limits.inconclusive, world)[0] & ~fails
        )
        fires.append(analysis_stops(fails, band, policy.rule, policy))
    return first_coded_failure(metric_codes(fires, no_data), policy)


def counts_sum_test(
    obs: CountsObservations, world: CountsWorldPlan, policy: PolicyPlan
) -> Outcomes:
    """``ztest`` or ``msprt`` on counts: each metric tested alone; the first step where
    any fires decides. A step where a metric has no data (a side served nothing) adds
    nothing to its statistic and is not one of its looks.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    fires, no_data = [], None
    for limits in policy.metrics:
        fire, has = metric_sum_fires(obs, world, limits.check, policy.rule, policy)
        fires.append(fire)
        if policy.no_data == "fail":
            no_data = ~has if no_data is None else (no_data | ~has)
    return first_coded_failure(metric_codes(fires, no_data), policy)


def metric_sum_fires(
    obs: CountsObservations,
    world: CountsWorldPlan,
    check: MetricCheck,
    rule: ZTestRule | MsprtRule,
    policy: PolicyPlan,
) -> tuple[np.ndarray, np.ndarray]:
    """Where one metric's z-test or mSPRT fires, over each analysis (stage or rollout).

    Rates: the pooled two-proportion z (:func:`counts_z`); latency: the standardised sum
    of the steps' latency evidence (:func:`latency_z` of
    :func:`~canary_mc.engine.rules.latency_null.latency_evidence`, exactly normal under
    H0 for the metric's own statistic); gauges: the standardised sum of differences with
    each step's null variance ``2 sigma^2`` (both sides measured). The sign follows the
    metric's bad direction (:func:`stat_sign`). The spending corrections use each
    metric's own information per look (rates ``1 / (1/N_c + 1/N_b)``, latency and gauges
    the running sum's null variance).

    Returns
    -------
    fires : ndarray of bool, shape (n_rollouts, n_steps)
    has_data : ndarray of bool, shape (n_steps,)
    """
    cn, bn = obs.canary_requests[0], obs.baseline_requests[0]
    have = (cn > 0) & (bn > 0)
    sign = stat_sign(check)
    fire = np.zeros(obs.canary_errors.shape, dtype=bool)
    if check.signal == "latency":
        stat_world = world.with_stat(world.stat_of(check))
        canary, baseline = obs.latency(world.stat_of(check), world.default_stat)
        var_c = latency_metric_variance(cn, stat_world)
        var_b = latency_metric_variance(bn, stat_world)
        # Exactly N(0, var_c + var_b) under H0 at any request counts (latency_null).
        evidence = latency_evidence(canary, cn, baseline, bn, var_c, var_b, stat_world)
        delta = sign * evidence
        variance = var_c + var_b
    elif check.signal == "gauge":
        canary, baseline = obs.gauges[check.name]
        delta = sign * (canary - baseline)
        sd = dict((name, sd) for name, _, sd in world.gauges)[check.name]
        variance = np.where(have, 2.0 * sd * sd, np.inf)
    for a, b in segments(rule.scope, policy):
        if check.signal == "rate":
            z, r, information = counts_z(obs, a, b, rule, have[a:b])
            z = sign * z
        else:
            z, r, information = latency_z(delta[:, a:b], variance[a:b], rule)
        fire[:, a:b] = _sum_fires(z, r, rule, have[a:b], information)
    return fire, have


def counts_z(
    obs: CountsObservations,
    a: int,
    b: int,
    rule: ZTestRule | MsprtRule,
    have: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pooled two-proportion z on counts accumulated over steps ``[a, b)``.

    Only steps where both sides served requests (``have``, shape ``(b - a,)``) are
    accumulated: a step without a baseline adds nothing to either side's counts.

    ``Z_k = (E_c/N_c - E_b/N_b) / sqrt(p (1 - p) (1/N_c + 1/N_b))`` with the pooled
    ``p = (E_c + E_b) / (N_c + N_b)``; NaN where it is undefined (no data yet, or
    ``p`` is 0 or 1). For the mixture, ``r_k = tau^2 V_1 / V_k`` with ``V`` the null
    variance's request part ``1/N_c + 1/N_b`` and ``V_1`` that of the analysis's first
    step with data: ``tau`` is in units of one step's standard deviation, as under the
    Gaussian model (``r_k = k tau^2`` when every step has the same traffic).

    Returns
    -------
    z, r : ndarray of float64, shape (n_rollouts, b - a)
    information : ndarray of float64, shape (b - a,)
        ``1 / V_k`` (the information up to ``p (1 - p)``) of the same accumulated
        requests; 0 until the first step with data. The spending corrections' input.
    """
    if have is None:
        have = (obs.canary_requests[0, a:b] > 0) & (obs.baseline_requests[0, a:b] > 0)

    def running(x: np.ndarray) -> np.ndarray:
        kept = x[:, a:b] if have.all() else np.where(have, x[:, a:b], 0)
        return np.cumsum(kept, axis=1).astype(np.float64)

    ec, nc = running(obs.canary_errors), running(obs.canary_requests)
    eb, nb = running(obs.baseline_errors), running(obs.baseline_requests)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (ec + eb) / (nc + nb)
        inv = 1.0 / nc + 1.0 / nb
        z = (ec / nc - eb / nb) / np.sqrt(pooled * (1.0 - pooled) * inv)
        r = np.zeros_like(z)
        if rule.kind == "msprt":
            step_inv = 1.0 / obs.canary_requests[0, a:b] + 1.0 / obs.baseline_requests[0, a:b]
            finite = np.isfinite(step_inv)
            ref = step_inv[finite.argmax()] if finite.any() else np.inf
            r = rule.tau * rule.tau * ref / inv
    z[~np.isfinite(z)] = np.nan
    return z, r, 1.0 / inv[0]  # 1 / inf = 0 before the first step with data


def latency_z(
    delta: np.ndarray, variance: np.ndarray, rule: ZTestRule | MsprtRule
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised running sum of per-step latency (or gauge) evidence over an analysis.

    ``Z_k = S_k / sqrt(V_k)`` with ``S_k`` the sum of the steps' differences (steps
    without data skipped) and ``V_k`` the sum of their null variances; for the mixture
    ``r_k = tau^2 k^2 V_1 / V_k`` with ``V_1`` the first step's variance (``k tau^2``
    at constant traffic).

    Parameters
    ----------
    delta : ndarray of float64, shape (n_rollouts, K)
    variance : ndarray of float64, shape (K,)

    Returns
    -------
    z, r : ndarray of float64, shape (n_rollouts, K)
    information : ndarray of float64, shape (K,)
        ``V_k``, the running sum's null variance (the spending corrections' input).
    """
    have = np.isfinite(variance)
    s = np.cumsum(np.where(have, np.nan_to_num(delta), 0.0), axis=1)
    v = np.cumsum(np.where(have, variance, 0.0))
    k = np.cumsum(have)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = s / np.sqrt(v)
        r = np.zeros(v.shape)
        if rule.kind == "msprt" and have.any():
            r = rule.tau * rule.tau * k * k * variance[have.argmax()] / v
    z = np.where(v > 0, z, np.nan)
    return z, np.broadcast_to(r, z.shape), v


def _sum_fires(
    z: np.ndarray,
    r: np.ndarray,
    rule: ZTestRule | MsprtRule,
    have: np.ndarray,
    information: np.ndarray,
) -> np.ndarray:
    """Fire where ``Z_k > c_k`` (ztest) or the normal-mixture likelihood ratio
    ``(1 + r)^(-1/2) exp(r Z^2 / (2 (1 + r)))`` reaches ``1/alpha`` with ``Z > 0`` (msprt).

    Only steps with data (``have``, shape ``(K,)``) are looks: the ``k``-th of them is
    tested against ``c_k`` of ``sum(have)`` looks; the others never fire. The spending
    corrections' ``c_k`` follow the looks' cumulative ``information`` (shape ``(K,)``,
    :func:`~canary_mc.engine.rules.boundaries.look_critical_values`).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        if rule.kind == "ztest":
            n_looks = int(have.sum())
            if n_looks == 0:
                return np.zeros(z.shape, dtype=bool)
            c = np.asarray(ztest_critical_values(rule, information[have]))
            look = np.maximum(np.cumsum(have) - 1, 0)
            return (z > c[look]) & have
        log_lr = -0.5 * np.log1p(r) + r * z * z / (2.0 * (1.0 + r))
        return (z > 0) & (log_lr >= math.log(1.0 / rule.alpha)) & have


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
    extra_latency_z: dict[str, tuple[np.ndarray, np.ndarray]]
    gauge_z: dict[str, tuple[np.ndarray, np.ndarray]]


HELD_VARIATES = (
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
"""The held schedule's variates (each its own generator per block)."""


def held_variates(world: CountsWorldPlan) -> tuple[str, ...]:
    """Every variate a block of the held schedule draws: the seed's, then one pair per
    extra latency statistic and per gauge (so adding one changes no other stream)."""
    extra = [f"{side}-latency:{stat}" for stat in world.extra_stats for side in SIDES]
    extra += [f"{side}-gauge:{name}" for name, _, _ in world.gauges for side in SIDES]
    return HELD_VARIATES + tuple(extra)


SIDES = ("canary", "baseline")


def draw_held_step(
    rng: dict[str, np.random.Generator],
    world: CountsWorldPlan,
    canary_requests: np.ndarray,
    baseline_requests: np.ndarray,
) -> HeldStepDraws:
    """Draw one step of a whole block, with each rollout's own request counts.

    Same distributions, and the same helpers, as
    :func:`canary_mc.engine.noise.counts.draw_counts` (lognormal rate jitter, binomial
    errors, exact order-statistic or normal latency metric, normal gauges).
    """
    size = canary_requests.shape
    healthy_rate, baseline_rate = jittered_rates(rng.__getitem__, world, size)
    return HeldStepDraws(
        healthy_rate=healthy_rate,
        healthy_canary_errors=rng["canary-errors"].binomial(canary_requests, healthy_rate),
        baseline_errors=rng["baseline-errors"].binomial(baseline_requests, baseline_rate),
        canary_latency_z=draw_latency_z(
            rng["canary-latency"], canary_requests, world.quantile, size
        ),
        baseline_latency_z=draw_latency_z(
            rng["baseline-latency"], baseline_requests, world.quantile, size
        ),
        presence_u=rng[PRESENCE_VARIATE].random(size),
        extra_latency_z={
            stat: tuple(
                draw_latency_z(rng[f"{side}-latency:{stat}"], n, QUANTILE_LEVELS.get(stat), size)
                for side, n in zip(SIDES, (canary_requests, baseline_requests), strict=True)
            )
            for stat in world.extra_stats
        },
        gauge_z={
            name: tuple(rng[f"{side}-gauge:{name}"].standard_normal(size) for side in SIDES)
            for name, _, _ in world.gauges
        },
    )


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

    Each 4,096-rollout block runs whole through :func:`~canary_mc.engine.rules.held.run_held`
    with a :class:`CountsHeldObserver` (a short last block is cut afterwards).

    Returns
    -------
    dict of str to (Outcomes, BlastTally, HeldRecord or None)
        Per scenario; outcomes of shape ``(stop - start,)``.
    """
    traffic = stage_traffic(policy, service)
    out = {}
    for name, scenario in scenarios.items():
        fault = HeldFault.of(policy, scenario)
        parts = []
        for block, lo, hi in blocks_of(start, stop):
            observer = CountsHeldObserver(seed, block, world, policy_plan, traffic, fault, record)
            outcomes = run_held(policy_plan, fault, BLOCK_ROLLOUTS, observer)
            full = (outcomes, observer.served, observer.excess_total, observer.record())
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


def _select(obs: CountsObservations, rows: np.ndarray) -> CountsObservations:
    """The observations of some rollouts (rows of every array, dicts of pairs too)."""
    pick = {}
    for f in CountsObservations.__dataclass_fields__:
        value = getattr(obs, f)
        if isinstance(value, dict):
            pick[f] = {k: (c[rows], b[rows]) for k, (c, b) in value.items()}
        else:
            pick[f] = value[rows]
    return CountsObservations(**pick)


class CountsHeldObserver:
    """One whole block of the held schedule on counts drawn step by step.

    At the rollouts' ``t``-th step each rollout serves its own stage's traffic: the
    block draws every variate of that step for all its rollouts (finished ones too, so
    streams advance identically whatever happened and chunking cannot change them),
    adds the fault's errors by thinning, and observes every metric.
    """

    keep_drawing = True

    def __init__(
        self,
        seed: int,
        block: int,
        world: CountsWorldPlan,
        policy: PolicyPlan,
        traffic: TrafficPlan,
        fault: HeldFault,
        record: bool,
    ) -> None:
        self.rng = {v: block_rng(seed, COUNTS_HELD_KEY, block, v) for v in held_variates(world)}
        self.world, self.policy, self.traffic, self.fault = world, policy, traffic, fault
        n = BLOCK_ROLLOUTS
        self.served = np.zeros(n, dtype=np.int64)
        self.excess_total = np.zeros(n, dtype=np.int64)
        shape = (n, policy.max_steps)
        self.rec = (
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
        n_stages = int(policy.stage_index.max()) + 1
        self.stage_limits = [
            [_stage_slice(limits, k) for k in range(n_stages)] for limits in policy.metrics
        ]

    def record(self) -> HeldRecord | None:
        return None if self.rec is None else HeldRecord(**self.rec)

    def step(
        self, t: int, stage: np.ndarray, onset: np.ndarray, active: np.ndarray
    ) -> StepEvidence:
        world, fault, scenario = self.world, self.fault, self.fault.scenario
        cn = self.traffic.canary_requests[t, stage]
        bn = self.traffic.baseline_requests[t, stage]
        draws = draw_held_step(self.rng, world, cn, bn)
        present, since = fault.present(t, stage, onset, draws.presence_u)
        step_fault = replace(fault_at(scenario, present, since), intermittent_q=1.0)
        excess = thinned_excess(
            self.rng["excess-errors"],
            draws.healthy_rate,
            draws.healthy_canary_errors,
            cn,
            step_fault,
            present,
        )
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
            CountsDraws(
                presence_u=None,
                extra_latency_z={
                    k: (c[:, None], b[:, None]) for k, (c, b) in draws.extra_latency_z.items()
                },
                gauge_z={k: (c[:, None], b[:, None]) for k, (c, b) in draws.gauge_z.items()},
                **column,
            ),
            excess[:, None],
            step_world,
            step_fault.as_columns(),
        )
        if self.rec is not None:
            for key in self.rec:
                value = getattr(obs, key)[:, 0]
                self.rec[key][active, t] = value[active]
        self.served += np.where(active, cn, 0)
        self.excess_total += np.where(active, excess, 0)
        if self.policy.rule.kind == "cumulative_checks":
            return self._checks(obs, stage)
        return self._evidence(obs, cn, bn)

    def _checks(self, obs: CountsObservations, stage: np.ndarray) -> StepEvidence:
        """Each metric's check at each rollout's own stage limits (exact for rates)."""
        n = stage.shape[0]
        fails, no_data = [], np.zeros(n, dtype=bool)
        by_stage = [(k, np.flatnonzero(stage == k)) for k in np.unique(stage)]
        for per_stage in self.stage_limits:
            failed = np.zeros(n, dtype=bool)
            for k, rows in by_stage:
                f, has = metric_fails_counts(_select(obs, rows), per_stage[k], self.world)
                failed[rows] = f[:, 0]
                no_data[rows] |= ~has[:, 0]
            fails.append(failed)
        return StepEvidence(fails=fails, no_data=no_data)

    def _evidence(self, obs: CountsObservations, cn: np.ndarray, bn: np.ndarray) -> StepEvidence:
        """Each metric's log-likelihood-ratio increment (Wald's SPRT on counts)."""
        rule, world = self.policy.rule, self.world
        has = (cn > 0) & (bn > 0)
        increments = []
        for limits in self.policy.metrics:
            check = limits.check
            sign, d = stat_sign(check), sprt_effect(check, rule)
            if check.signal == "rate":
                log_fail, log_pass = _binomial_llr_terms(world.error_rate, sign * d)
                ce = obs.canary_errors[:, 0]
                increments.append(ce * log_fail + (cn - ce) * log_pass)
                continue
            if check.signal == "latency":
                stat = world.stat_of(check)
                canary, baseline = obs.latency(stat, world.default_stat)
                stat_world = world.with_stat(stat)
                var_c = latency_metric_variance(cn, stat_world)
                var_b = latency_metric_variance(bn, stat_world)
                var = var_c + var_b
                # Exactly N(0, var) under H0, so Wald's bounds hold (latency_null).
                x = latency_evidence(canary[:, 0], cn, baseline[:, 0], bn, var_c, var_b, stat_world)
            else:
                canary, baseline = obs.gauges[check.name]
                sd = dict((name, sd) for name, _, sd in world.gauges)[check.name]
                var = 2.0 * sd * sd
                x = canary[:, 0] - baseline[:, 0]
            with np.errstate(invalid="ignore", divide="ignore"):
                if sign < 0:
                    x = -x
                increments.append(d / var * (x - d / 2.0))
        return StepEvidence(increments=increments, has_data=[has] * len(increments), no_data=~has)

    def sprt_bounds(self, metric: int, looks: int) -> tuple[np.ndarray, np.ndarray]:
        rule = self.policy.rule
        a = math.log((1.0 - rule.beta) / rule.alpha)
        b = math.log(rule.beta / (1.0 - rule.alpha))
        return np.full(looks, a), np.full(looks, b)


def _binomial_llr_terms(p0: float, change: float) -> tuple[float, float]:
    """Per-error and per-success log-likelihood ratio of ``p1 = p0 + change`` (clipped
    to [0, 1]) against ``p0``."""
    p1 = min(max(p0 + change, 0.0), 1.0)
    log_fail = math.log(p1 / p0) if p0 > 0 and p1 > 0 else (math.inf if p0 == 0 else -math.inf)
    log_pass = math.log1p(-p1) - math.log1p(-p0) if p1 < 1 else -math.inf
    return log_fail, log_pass


def _stage_slice(limits: MetricLimits, k: int) -> MetricLimits:
    """A metric's limits at stage ``k``, as a one-step plan."""
    return replace(
        limits,
        max=limits.stage_max[k : k + 1],
        min=limits.stage_min[k : k + 1],
        max_exact=(limits.check.max_exact[k],),
        min_exact=(limits.check.min_exact[k],),
    )
