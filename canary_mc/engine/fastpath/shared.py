"""Shared paths: many error-threshold settings decided on one simulation of the world.

A sweep over threshold settings (``policy.error_threshold_scale``, a stage's
``error_threshold``) repeats the same world: the same draws (common random numbers), the
same observed deltas. This module simulates each scenario's observed paths once per chunk
and derives every setting's tally from them in one pass, at a cost that hardly grows with
the number of settings.

It is exact, not an approximation. Order the settings so that each step's error limit is
non-decreasing from one setting to the next (they must be "nested": a setting looser at
one step is nowhere tighter). At step ``j`` a rollout's error check fails for the
settings whose limit is strictly below its observed delta: a prefix of that order, whose
length ``f_j`` is a ``searchsorted`` of the delta among the step's limits, with the very
comparisons ``delta > limit`` of the per-setting kernel. The settings failed by step
``j`` are the first ``b_j = max(f_0..f_j)``; so setting ``v`` first fails at the first
step where ``b_j > v``, and the settings whose first failure is step ``j`` are
``[b_{j-1}, b_j)``. A latency failure at step ``L`` (the same for every setting: latency
limits are shared) stops the rollout: settings not failed by errors at or before ``L``
roll back at ``L`` for latency, and an error failure at ``L`` wins, as in the seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from canary_mc.engine.core.outcomes import tally_first_failures
from canary_mc.engine.core.schedule import PolicyPlan, plan_policy, plan_world
from canary_mc.engine.core.streams import BLOCK_ROLLOUTS
from canary_mc.engine.noise.draws import draw_gaussian
from canary_mc.engine.rules.kernels import observe
from canary_mc.engine.simulate import chunk_ranges
from canary_mc.model import Experiment
from canary_mc.stats.tally import Tally

SHARED_CHUNK_ELEMENTS = 1 << 21
"""Target rollout-steps per chunk on shared paths (the engine's default is 2^18)."""


def shared_key(experiment: Experiment) -> str | None:
    """What must be equal for experiments to share paths; ``None`` if this one cannot.

    Everything but the error thresholds: the Gaussian model, the ``threshold`` rule and
    the shorthand's two metrics, with the same seed, rollouts, stages, latency limits,
    service, noise and scenarios.
    """
    policy = experiment.policy
    if (
        experiment.noise.model != "gaussian"
        or policy.rule.kind != "threshold"
        or policy.metrics is not None
    ):
        return None
    neutral = policy.model_copy(
        update={
            "error_threshold_scale": 1.0,
            "stages": tuple(s.model_copy(update={"error_threshold": 0.0}) for s in policy.stages),
        }
    )
    return experiment.model_copy(
        update={"policy": neutral, "name": "", "description": "", "sweep": None}
    ).model_dump_json()


def nested_order(plans: Sequence[PolicyPlan]) -> np.ndarray | None:
    """An order of the settings with every step's error limit non-decreasing, if any.

    Returns
    -------
    ndarray of int or None
        Indices into ``plans``; ``None`` when the settings are not nested.
    """
    limits = np.stack([plan.error_threshold for plan in plans])  # (n_settings, n_steps)
    order = np.lexsort(limits.T[::-1])
    if not (np.diff(limits[order], axis=0) >= 0).all():
        return None
    return order


def tally_threshold_settings(
    experiments: Sequence[Experiment], *, chunk_rollouts: int | None = None
) -> list[dict[str, Tally]] | None:
    """Tallies of experiments that differ only in error thresholds, from shared paths.

    Parameters
    ----------
    experiments : sequence of Experiment
        All with the same :func:`shared_key`.
    chunk_rollouts : int, optional
        Rollouts per chunk; never changes the numbers.

    Returns
    -------
    list of dict of str to Tally, or None
        One ``{scenario: Tally}`` per experiment, in the given order, identical to
        :func:`canary_mc.engine.simulate.tally_experiment` of each; ``None`` when the
        settings are not nested (the caller then runs them one by one).
    """
    first = experiments[0]
    keys = {shared_key(e) for e in experiments}
    if None in keys or len(keys) != 1:
        raise ValueError("experiments must share one shared_key to share paths")
    plans = [plan_policy(e.policy) for e in experiments]
    order = nested_order(plans)
    if order is None:
        return None
    policy, n_steps, n_stages = first.policy, first.policy.n_steps, len(first.policy.stages)
    limits = np.stack([plans[v].error_threshold for v in order])  # (k, n_steps), nested
    scenarios = first.evaluated_scenarios
    worlds = {
        name: plan_world(policy, first.service, first.noise, scenario)
        for name, scenario in scenarios.items()
    }
    presence = any(s.intermittent for s in scenarios.values())
    k = len(experiments)
    # histogram[name][reason, step, setting]: first failures; reason 0 error, 1 latency
    histogram = {name: np.zeros((2, n_steps, k), dtype=np.int64) for name in scenarios}
    if chunk_rollouts is None:
        # The step loop's Python overhead wants wide chunks: ~2^21 rollout-steps each,
        # never less than one block (memory stays bounded for long policies too).
        chunk_rollouts = max(
            BLOCK_ROLLOUTS, (SHARED_CHUNK_ELEMENTS // n_steps) // BLOCK_ROLLOUTS * BLOCK_ROLLOUTS
        )
    base = plans[0]
    for start, stop in chunk_ranges(first.rollouts, chunk_rollouts):
        draws = draw_gaussian(first.seed, start, stop, n_steps, presence=presence)
        for name, world in worlds.items():
            observed = observe(draws, world, clamp=False)
            histogram[name] += _first_failures(
                observed.error_delta, observed.latency_delta_ms, limits, base
            )
    results: list[dict[str, Tally]] = [{} for _ in experiments]
    for name in scenarios:
        for rank, v in enumerate(order):
            results[v][name] = tally_first_failures(
                histogram[name][:, :, rank], first.rollouts, base.stage_index, n_stages
            )
    return results


def _first_failures(
    error_delta: np.ndarray, latency_delta: np.ndarray, limits: np.ndarray, plan: PolicyPlan
) -> np.ndarray:
    """First-failure counts ``(2, n_steps, k)`` of one chunk, for ``k`` nested settings.

    ``error_delta`` and ``latency_delta`` have shape ``(n_rollouts, n_steps)``; ``limits``
    ``(k, n_steps)``, non-decreasing along axis 0.

    Steps are visited in order, vectorized over rollouts, with ``b`` (settings failed so
    far) per rollout. A step costs one gather and two comparisons per rollout: only a
    rollout whose delta beats the limit of its first surviving setting is searched for
    how many more settings it fails. A rollout stops at its first latency failure.
    """
    n, n_steps = error_delta.shape
    k = limits.shape[0]
    # A sentinel row: once every setting has failed, nothing can fail again.
    bounded = np.vstack([limits, np.full((1, n_steps), np.inf)])
    errors = np.ascontiguousarray(error_delta.T)  # (n_steps, n): a step is contiguous
    latency = np.ascontiguousarray(latency_delta.T) > plan.latency_threshold_ms[:, None]
    b = np.zeros(n, dtype=np.intp)
    out = np.zeros((2, n_steps, k + 1), dtype=np.int64)
    for j in range(n_steps):
        delta = errors[j]
        beaten = np.flatnonzero(delta > bounded[b, j])
        if beaten.size:
            failed = np.searchsorted(limits[:, j], delta[beaten], side="left")
            # settings [b, failed) first fail here: +1 at b, -1 at failed, summed later
            out[0, j] += np.bincount(b[beaten], minlength=k + 1)
            out[0, j] -= np.bincount(failed, minlength=k + 1)
            b[beaten] = failed
        stopped = np.flatnonzero(latency[j] & (b < k))
        if stopped.size:
            out[1, j] += np.bincount(b[stopped], minlength=k + 1)
            out[1, j, k] -= stopped.size
            b[stopped] = k  # no later step can decide this rollout
    return np.cumsum(out, axis=2)[:, :, :k]
