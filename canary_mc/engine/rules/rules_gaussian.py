"""Decision rules beyond the seed's threshold: array kernels over ``(n_rollouts, n_steps)``.

Two families:

- **Fixed schedule** (``failure_limit``, ``ztest``, ``msprt``): every stage runs its
  ``duration_steps``; each rule turns the observed deltas into "metric fires at step
  ``j``" arrays and the first firing step decides, exactly as for ``threshold``.
- **Outcome-dependent schedule** (``cumulative_checks``, ``sprt``): a failing check holds
  the stage, an early SPRT acceptance leaves it. Each rollout carries a stage pointer; the
  kernel loops over steps (never over rollouts), and the rollout's ``t``-th step uses draw
  column ``t`` whatever stage it is in, so draws stay ``(n_rollouts, max_steps)`` and
  chunk-invariant.

The statistic of each rule is computed from per-step evidence (the deltas) and per-look
boundaries (:func:`ztest_bounds`, :func:`msprt_bounds`, :func:`sprt_bounds`) that the
scalar reference (:mod:`canary_mc.reference_rules`) shares; the boundaries themselves are
checked against published values and closed forms in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from canary_mc.engine.core.outcomes import (
    REASON_ERROR,
    REASON_LATENCY,
    Outcomes,
    first_coded_failure,
)
from canary_mc.engine.core.schedule import PolicyPlan, WorldPlan
from canary_mc.engine.noise.draws import GaussianDraws
from canary_mc.engine.rules.boundaries import critical_values
from canary_mc.engine.rules.kernels import observe
from canary_mc.model import Policy, Scenario
from canary_mc.model.rules import (
    CumulativeChecksRule,
    FailureLimitRule,
    MsprtRule,
    SprtRule,
    ZTestRule,
)

# --- per-look boundaries, shared with the scalar reference -------------------------------


def ztest_bounds(rule: ZTestRule, n_looks: int) -> list[float]:
    """Bounds on the sum of deltas in units of sigma: fire at look ``k`` when
    ``S_k > sigma * bound[k-1]``, i.e. ``Z_k = S_k / (sigma sqrt(k)) > c_k``."""
    c = critical_values(rule.correction, n_looks, rule.alpha)
    return [c[k - 1] * math.sqrt(k) for k in range(1, n_looks + 1)]


def msprt_bounds(rule: MsprtRule, n_looks: int) -> list[float]:
    """Bounds on the sum of deltas in units of sigma: the normal-mixture likelihood ratio
    ``(1 + n tau^2)^(-1/2) exp(tau^2 S^2 / (2 sigma^2 (1 + n tau^2)))`` reaches
    ``1/alpha`` with ``S > 0`` exactly when ``S >= sigma * bound[n-1]``."""
    r2 = rule.tau * rule.tau
    return [
        math.sqrt(
            2.0 * (1.0 + n * r2) / r2 * (math.log(1.0 / rule.alpha) + 0.5 * math.log1p(n * r2))
        )
        for n in range(1, n_looks + 1)
    ]


def sprt_bounds(
    rule: SprtRule, sigma: float, increase: float, n_looks: int
) -> tuple[list[float], list[float]]:
    """Wald's boundaries as bounds on the stage's sum of deltas ``S_n`` after ``n`` steps.

    The log-likelihood ratio of ``N(increase, sigma^2)`` against ``N(0, sigma^2)`` is
    ``(increase / sigma^2) (S_n - n increase / 2)``: it reaches ``A = ln((1-beta)/alpha)``
    when ``S_n >= reject[n-1]`` and ``B = ln(beta/(1-alpha))`` when ``S_n <= accept[n-1]``.
    """
    a = math.log((1.0 - rule.beta) / rule.alpha)
    b = math.log(rule.beta / (1.0 - rule.alpha))
    var = sigma * sigma
    reject = [var * a / increase + n * increase / 2.0 for n in range(1, n_looks + 1)]
    accept = [var * b / increase + n * increase / 2.0 for n in range(1, n_looks + 1)]
    return reject, accept


# --- a scenario's fault on an outcome-dependent schedule ---------------------------------


@dataclass(frozen=True)
class HeldFault:
    """A scenario's fault when each rollout has its own stage pointer.

    On the fixed schedule :func:`canary_mc.engine.schedule.plan_fault` lays the fault
    out per step. When a rule can hold a stage or leave it early, the same definitions
    are applied per rollout: the onset is ``onset_step`` steps after the rollout itself
    reaches ``onset_stage``, a ramp counts steps from that onset, the load gate reads the
    traffic of the rollout's current stage, and an intermittent fault is present at the
    rollout's ``t``-th step when ``presence_u[:, t] < q``.

    Attributes
    ----------
    onset_stage : int
        0-based stage whose start (plus ``onset_step``) is the onset.
    onset_step : int
    stage_traffic_pct : ndarray of float64, shape (n_stages,)
    scenario : Scenario
    """

    onset_stage: int
    onset_step: int
    stage_traffic_pct: np.ndarray
    scenario: Scenario

    @classmethod
    def of(cls, policy: Policy, scenario: Scenario) -> HeldFault:
        onset = 0 if scenario.onset_stage is None else policy.stage_index(scenario.onset_stage)
        return cls(
            onset_stage=onset,
            onset_step=scenario.onset_step,
            stage_traffic_pct=np.array([s.traffic_pct for s in policy.stages], dtype=np.float64),
            scenario=scenario,
        )

    @classmethod
    def of_plans(cls, world: WorldPlan, policy: PolicyPlan) -> HeldFault:
        scenario = world.scenario if world.scenario is not None else Scenario()
        return cls(
            onset_stage=world.onset_stage,
            onset_step=scenario.onset_step,
            stage_traffic_pct=policy.traffic_pct[policy.step_in_stage == 0],
            scenario=scenario,
        )

    def present(
        self, t: int, stage: np.ndarray, onset: np.ndarray, presence_t: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where the fault is present at step ``t``, and steps since onset.

        Parameters
        ----------
        t : int
            The rollouts' step (each rollout's ``t``-th step).
        stage, onset : ndarray of int64, shape (n_rollouts,)
            Current stage (clipped to the last) and onset step (-1 before the onset
            stage is reached).
        presence_t : ndarray of float64, shape (n_rollouts,), or None
        The presence uniforms of this step (needed if the fault is intermittent).

        Returns
        -------
        present : ndarray of bool, shape (n_rollouts,)
        since : ndarray of int64, shape (n_rollouts,)
        """
        scenario = self.scenario
        since = t - onset
        present = (onset >= 0) & (since >= 0)
        if scenario.min_traffic_pct > 0:
            present &= self.stage_traffic_pct[stage] >= scenario.min_traffic_pct
        if scenario.intermittent_q < 1:
            present &= presence_t < scenario.intermittent_q
        return present, since

    def gaussian_effects(
        self, present: np.ndarray, since: np.ndarray, world: WorldPlan
    ) -> tuple[np.ndarray, np.ndarray]:
        """Additive effects on the error rate (fraction) and latency (ms), shape ``(n,)``,
        evaluated in the same order as the fixed schedule and the scalar reference."""
        scenario = self.scenario
        error = scenario.error_delta + scenario.error_ramp_per_step * since
        latency = scenario.latency_delta_ms + scenario.latency_ramp_ms_per_step * since
        if scenario.error_relative != 0:
            error = error + scenario.error_relative * world.error_rate
        if scenario.latency_factor != 1:
            latency = latency + (scenario.latency_factor - 1.0) * world.latency_ms
        return np.where(present, error, 0.0), np.where(present, latency, 0.0)


# --- dispatch ------------------------------------------------------------------------------


def decide_rule(draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan) -> Outcomes:
    """Outcomes of ``policy.rule`` (any rule but ``threshold``) on Gaussian draws.

    Parameters
    ----------
    draws : GaussianDraws
        Arrays of shape ``(n_rollouts, policy.max_steps)``.
    world : WorldPlan
    policy : PolicyPlan

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    rule = policy.rule
    if isinstance(rule, CumulativeChecksRule | SprtRule):
        return _decide_held(draws, world, policy)
    obs = observe(draws, world)
    if isinstance(rule, FailureLimitRule):
        fire_e = _failure_counts(obs.error_delta > policy.error_threshold, rule, policy)
        fire_l = _failure_counts(obs.latency_delta_ms > policy.latency_threshold_ms, rule, policy)
    elif isinstance(rule, ZTestRule | MsprtRule):
        bounds = ztest_bounds if isinstance(rule, ZTestRule) else msprt_bounds
        fire_e = _sum_test(obs.error_delta, world.error_sigma, rule, bounds, policy)
        fire_l = _sum_test(obs.latency_delta_ms, world.latency_sigma_ms, rule, bounds, policy)
    else:
        raise ValueError(f"policy.rule: no kernel for kind {rule.kind!r}")
    return _first_fire(fire_e, fire_l, policy)


def _first_fire(fire_e: np.ndarray, fire_l: np.ndarray, policy: PolicyPlan) -> Outcomes:
    """Outcomes from "metric fires at step" arrays of shape ``(n_rollouts, n_steps)``:
    the first firing step decides; error wins a tie, as in the seed."""
    code = fire_e.view(np.uint8) | (fire_l.view(np.uint8) << 1)
    return first_coded_failure(code, policy)


def _segments(scope: str, policy: PolicyPlan) -> list[tuple[int, int]]:
    """Step ranges ``[a, b)`` of the analyses: one per stage, or the whole rollout."""
    if scope == "rollout":
        return [(0, policy.n_steps)]
    starts = np.flatnonzero(policy.step_in_stage == 0).tolist()
    return list(zip(starts, [*starts[1:], policy.n_steps], strict=True))


# --- failure_limit (Argo Rollouts) -------------------------------------------------------


def _failure_counts(failed: np.ndarray, rule: FailureLimitRule, policy: PolicyPlan) -> np.ndarray:
    """Does the metric's failure count exceed ``failure_limit`` at each step?

    ``failed`` has shape ``(n_rollouts, n_steps)``. Counts restart at each stage under
    ``scope: stage``; with ``consecutive`` a pass also restarts them.
    """
    n_steps = policy.n_steps
    step = np.arange(n_steps)
    restart = (
        np.full(n_steps, -1)
        if rule.scope == "rollout"
        else step - policy.step_in_stage - 1  # the step before the stage's first
    )
    if rule.consecutive:
        # Length of the run of failures ending at each step: steps since the last pass.
        last_pass = np.where(failed, -1, step)
        np.maximum.accumulate(last_pass, axis=1, out=last_pass)
        count = step - np.maximum(last_pass, restart)
    else:
        total = np.cumsum(failed, axis=1, dtype=np.int64)
        before = np.where(restart >= 0, total[:, np.maximum(restart, 0)], 0)
        count = total - before
    return count > rule.failure_limit


# --- ztest and msprt: boundaries on running sums --------------------------------------------


def _sum_test(
    delta: np.ndarray, sigma: float, rule: ZTestRule | MsprtRule, bounds, policy: PolicyPlan
) -> np.ndarray:
    """Fire where the analysis's running sum of deltas crosses ``sigma * bound``."""
    fire = np.empty(delta.shape, dtype=bool)
    for a, b in _segments(rule.scope, policy):
        running = np.cumsum(delta[:, a:b], axis=1)
        limit = sigma * np.asarray(bounds(rule, b - a))
        fire[:, a:b] = (
            (running > limit)
            if isinstance(rule, ZTestRule)
            else ((running > 0) & (running >= limit))
        )
    return fire


# --- cumulative_checks (Flagger) and sprt: a stage pointer per rollout ---------------------


def _decide_held(draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan) -> Outcomes:
    rule = policy.rule
    n = draws.n_rollouts
    first_steps = np.flatnonzero(policy.step_in_stage == 0)
    n_stages = first_steps.shape[0]
    duration = np.bincount(policy.stage_index, minlength=n_stages)
    limit_e = policy.error_threshold[first_steps]
    limit_l = policy.latency_threshold_ms[first_steps]

    fault = HeldFault.of_plans(world, policy)

    def presence(t: int) -> np.ndarray | None:
        return None if draws.presence_u is None else draws.presence_u[:, t]

    stage = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    onset = np.full(n, fault.onset_step if fault.onset_stage == 0 else -1, dtype=np.int64)
    decision_step = np.full(n, -1, dtype=np.int64)
    decision_stage = np.full(n, -1, dtype=np.int64)
    reason = np.zeros(n, dtype=np.int8)
    steps_run = np.zeros(n, dtype=np.int64)
    in_stage = np.zeros(n, dtype=np.int64)  # passes (cumulative) or looks (sprt) in stage
    failed = np.zeros(n, dtype=np.int64)
    sum_e, sum_l = np.zeros(n), np.zeros(n)
    accepted_e, accepted_l = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if isinstance(rule, SprtRule):
        looks = int(duration.max())
        reject_e, accept_e = map(
            np.asarray, sprt_bounds(rule, world.error_sigma, rule.min_error_increase, looks)
        )
        reject_l, accept_l = map(
            np.asarray,
            sprt_bounds(rule, world.latency_sigma_ms, rule.min_latency_increase_ms, looks),
        )

    for t in range(policy.max_steps):
        if not active.any():
            break
        s = np.minimum(stage, n_stages - 1)
        effect_e, effect_l = fault.gaussian_effects(*fault.present(t, s, onset, presence(t)), world)
        x_e = np.maximum(effect_e + world.error_sigma * draws.error_z[:, t], -world.error_rate)
        x_l = np.maximum(
            effect_l + world.latency_sigma_ms * draws.latency_z[:, t], -world.latency_ms
        )

        if isinstance(rule, CumulativeChecksRule):
            fire_e = active & (x_e > limit_e[s])
            fire_l = active & (x_l > limit_l[s])
            check_failed = fire_e | fire_l
            failed += check_failed
            back = check_failed & (failed >= rule.threshold)
            passed = active & ~check_failed
            in_stage += passed
            advance = passed & (in_stage == duration[s])
        else:
            in_stage += active
            look = np.minimum(in_stage, looks) - 1
            test_e = active & ~accepted_e
            test_l = active & ~accepted_l
            sum_e = np.where(test_e, sum_e + x_e, sum_e)
            sum_l = np.where(test_l, sum_l + x_l, sum_l)
            fire_e = test_e & (sum_e >= reject_e[look])
            fire_l = test_l & (sum_l >= reject_l[look])
            accepted_e |= test_e & ~fire_e & (sum_e <= accept_e[look])
            accepted_l |= test_l & ~fire_l & (sum_l <= accept_l[look])
            back = fire_e | fire_l
            advance = active & ~back & ((accepted_e & accepted_l) | (in_stage == duration[s]))

        decision_step[back] = t
        decision_stage[back] = s[back]
        reason[back] = np.where(fire_e[back], REASON_ERROR, REASON_LATENCY)
        steps_run[back] = t + 1
        active &= ~back

        stage += advance
        in_stage[advance] = 0
        if isinstance(rule, SprtRule):
            sum_e[advance] = 0.0
            sum_l[advance] = 0.0
            accepted_e[advance] = False
            accepted_l[advance] = False
        onset[advance & (stage == fault.onset_stage)] = t + 1 + fault.onset_step
        done = advance & (stage == n_stages)
        steps_run[done] = t + 1
        active &= ~done

    return Outcomes(
        rolled_back=decision_step >= 0,
        decision_step=decision_step,
        decision_stage=decision_stage,
        reason=reason,
        steps_run=steps_run,
    )
