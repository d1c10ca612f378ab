"""The held-schedule engine: rules whose step schedule depends on the outcome.

Under ``cumulative_checks`` a failing check holds the stage; under ``sprt`` an early
acceptance leaves it. Each rollout carries a stage pointer, so a rollout's ``t``-th step
may be in any stage. :func:`run_held` walks that state machine once, for both noise
models: a noise model supplies only an observer (:class:`HeldObserver`) that says, for
the rollouts' ``t``-th step at their own stages, which metric checks fail
(``cumulative_checks``) or each metric's log-likelihood-ratio evidence (``sprt``).
The loop is over steps, never over rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from canary_mc.engine.core.outcomes import REASON_NO_DATA, Outcomes
from canary_mc.engine.core.schedule import PolicyPlan, WorldPlan
from canary_mc.model import Policy, Scenario


@dataclass(frozen=True)
class HeldFault:
    """A scenario's fault when each rollout has its own stage pointer.

    On the fixed schedule :func:`canary_mc.engine.core.schedule.plan_fault` lays the
    fault out per step. When a rule can hold a stage or leave it early, the same
    definitions are applied per rollout: the onset is ``onset_step`` steps after the
    rollout itself reaches ``onset_stage``, a ramp counts steps from that onset, the load
    gate reads the traffic of the rollout's current stage, and an intermittent fault is
    present at the rollout's ``t``-th step when ``presence_u[:, t] < q``.

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

    def gauge_effect(
        self, name: str, mean: float, present: np.ndarray, since: np.ndarray
    ) -> np.ndarray:
        """Additive effect on gauge ``name`` (healthy value ``mean``), shape ``(n,)``."""
        fault = self.scenario.faults.get(name)
        if fault is None:
            return np.zeros(present.shape)
        effect = (fault.delta or 0.0) + (fault.ramp_per_step or 0.0) * since
        effect = effect + (fault.relative or 0.0) * mean
        return np.where(present, effect, 0.0)


@dataclass(frozen=True)
class StepEvidence:
    """What the rollouts' ``t``-th step shows, metric by metric (arrays of shape ``(n,)``).

    Attributes
    ----------
    fails : list of ndarray of bool, optional
        ``cumulative_checks``: the metric's check fails at the rollout's stage limits
        (False where it has no data).
    increments : list of ndarray of float64, optional
        ``sprt``: the step's evidence, compared after summing with the observer's
        :meth:`HeldObserver.sprt_bounds`.
    has_data : list of ndarray of bool, optional
        Per metric: the step has the data it needs (``None``: everywhere).
    no_data : ndarray of bool, optional
        Some metric lacks data (``None``: none does).
    """

    fails: list[np.ndarray] | None = None
    increments: list[np.ndarray] | None = None
    has_data: list[np.ndarray] | None = None
    no_data: np.ndarray | None = None


class HeldObserver(Protocol):
    """A noise model's view of the held schedule."""

    keep_drawing: bool
    """Observe every step even when no rollout is left (streams consumed step-major)."""

    def step(
        self, t: int, stage: np.ndarray, onset: np.ndarray, active: np.ndarray
    ) -> StepEvidence: ...

    def sprt_bounds(self, metric: int, looks: int) -> tuple[np.ndarray, np.ndarray]:
        """Reject and accept bounds on the stage's summed increments, per look."""
        ...


def run_held(policy: PolicyPlan, fault: HeldFault, n: int, observer: HeldObserver) -> Outcomes:
    """Outcomes of ``cumulative_checks`` or ``sprt`` for ``n`` rollouts.

    ``cumulative_checks`` (Flagger): a check fails when any metric's does; each failed
    check adds one to the rollout's count and holds the weight; at ``threshold`` the
    rollout rolls back. A passing check counts towards the stage's ``duration_steps``.
    A step without data decides as ``policy.no_data`` says (``hold``: neither passes
    nor fails).

    ``sprt`` (Wald): one test per metric and stage; a metric fails at its reject bound
    (roll back), accepts at its accept bound; the rollout leaves the stage when every
    metric has accepted or the bake time ends.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n,)``; a rollout stalled by held no-data steps runs
        ``max_steps``.
    """
    rule = policy.rule
    cumulative = rule.kind == "cumulative_checks"
    n_metrics = len(policy.metrics)
    first_steps = np.flatnonzero(policy.step_in_stage == 0)
    n_stages = first_steps.shape[0]
    duration = np.bincount(policy.stage_index, minlength=n_stages)
    on_no_data = policy.no_data

    stage = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    onset = np.full(n, fault.onset_step if fault.onset_stage == 0 else -1, dtype=np.int64)
    decision_step = np.full(n, -1, dtype=np.int64)
    decision_stage = np.full(n, -1, dtype=np.int64)
    reason = np.zeros(n, dtype=np.int8)
    steps_run = np.full(n, policy.max_steps, dtype=np.int64)
    in_stage = np.zeros(n, dtype=np.int64)  # passes (cumulative) or looks (sprt) in stage
    failed = np.zeros(n, dtype=np.int64)
    sums = [np.zeros(n) for _ in range(n_metrics)]
    accepted = [np.zeros(n, dtype=bool) for _ in range(n_metrics)]
    if not cumulative:
        looks = int(duration.max())
        bounds = [observer.sprt_bounds(m, looks) for m in range(n_metrics)]

    for t in range(policy.max_steps):
        if not observer.keep_drawing and not active.any():
            break
        s = np.minimum(stage, n_stages - 1)
        evidence = observer.step(t, s, onset, active)
        no_data = evidence.no_data
        fail_no_data = active & no_data if (no_data is not None and on_no_data == "fail") else None
        if cumulative:
            fires = [active & f for f in evidence.fails]
            check_failed = fires[0].copy()
            for more in fires[1:]:
                check_failed |= more
            failed += check_failed
            back = check_failed & (failed >= rule.threshold)
            passed = active & ~check_failed
            if no_data is not None:
                if fail_no_data is not None:
                    back |= fail_no_data
                    passed &= ~fail_no_data
                if on_no_data == "hold":
                    passed &= ~no_data
            in_stage += passed
            advance = passed & (in_stage == duration[s])
        else:
            in_stage += active
            look = np.minimum(in_stage, looks) - 1
            fires = []
            for m in range(n_metrics):
                test = active & ~accepted[m]
                if evidence.has_data is not None:
                    test &= evidence.has_data[m]
                sums[m] = np.where(test, sums[m] + evidence.increments[m], sums[m])
                reject, accept = bounds[m]
                fire = test & (sums[m] >= reject[look])
                accepted[m] |= test & ~fire & (sums[m] <= accept[look])
                fires.append(fire)
            back = fires[0].copy()
            for more in fires[1:]:
                back |= more
            if fail_no_data is not None:
                back |= fail_no_data
            all_accepted = accepted[0].copy()
            for more in accepted[1:]:
                all_accepted &= more
            advance = active & ~back & (all_accepted | (in_stage == duration[s]))

        if back.any():
            # The first metric that fired decides the reason; none fired: no data.
            rows = np.flatnonzero(back)
            code = np.full(rows.shape, REASON_NO_DATA, dtype=np.int8)
            for m in range(n_metrics - 1, -1, -1):
                code[fires[m][rows]] = m + 1
            decision_step[rows] = t
            decision_stage[rows] = s[rows]
            reason[rows] = code
            steps_run[rows] = t + 1
            active &= ~back

        stage += advance
        in_stage[advance] = 0
        if not cumulative:
            for m in range(n_metrics):
                sums[m][advance] = 0.0
                accepted[m][advance] = False
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
