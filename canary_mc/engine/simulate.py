"""The chunked driver: many rollouts of an experiment, in bounded memory.

For each chunk of whole random-number blocks it draws the noise once, then evaluates
every scenario on the same draws (common random numbers) and tallies the outcomes.
Memory is bounded by the chunk size, not by ``n_rollouts``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from canary_mc.engine.core.outcomes import Outcomes, tally_first_failures, tally_outcomes
from canary_mc.engine.core.schedule import (
    checked_gauges,
    plan_fault,
    plan_policy,
    plan_world,
    read_signals,
)
from canary_mc.engine.core.streams import BLOCK_ROLLOUTS
from canary_mc.engine.noise.counts import (
    blast_radius,
    draw_counts,
    observe_counts,
    plan_counts_world,
    tally_blast,
)
from canary_mc.engine.noise.draws import draw_gaussian
from canary_mc.engine.rules.kernels import threshold_first_failures
from canary_mc.engine.rules.mannwhitney import counts_samples, decide_mannwhitney, gaussian_samples
from canary_mc.engine.rules.registry import RULES, rollout_outcomes
from canary_mc.engine.rules.rules_counts import simulate_counts_held
from canary_mc.errors import ConfigError
from canary_mc.model import Experiment, Noise, Policy, Scenario, Service
from canary_mc.model.experiment import unchecked_metrics
from canary_mc.stats.estimate import ExperimentEstimate, ScenarioEstimate
from canary_mc.stats.tally import BlastTally, Tally

CHUNK_ELEMENTS = 1 << 18
"""Target rollout-steps per chunk: about 2 MB per float array, so a chunk's working set
stays in cache (measured fastest on seed.yaml). A chunk is never less than one block."""


def default_chunk_rollouts(n_steps: int) -> int:
    """Rollouts per chunk for a policy of ``n_steps`` steps: whole blocks, ~CHUNK_ELEMENTS."""
    return max(1, CHUNK_ELEMENTS // (n_steps * BLOCK_ROLLOUTS)) * BLOCK_ROLLOUTS


def chunk_ranges(n_rollouts: int, chunk_rollouts: int) -> Iterator[tuple[int, int]]:
    """Split ``[0, n_rollouts)`` into chunks of whole random-number blocks.

    ``chunk_rollouts`` is rounded up to a multiple of ``BLOCK_ROLLOUTS``; it affects
    memory and speed only, never the numbers.

    Yields
    ------
    start, stop : int
    """
    if chunk_rollouts < 1:
        raise ConfigError(f"chunk_rollouts must be >= 1, got {chunk_rollouts}")
    step = -(-chunk_rollouts // BLOCK_ROLLOUTS) * BLOCK_ROLLOUTS
    for start in range(0, n_rollouts, step):
        yield start, min(start + step, n_rollouts)


def simulate_outcomes(
    *,
    policy: Policy,
    service: Service,
    noise: Noise,
    scenario: Scenario,
    n_rollouts: int,
    seed: int,
    chunk_rollouts: int | None = None,
) -> Outcomes:
    """Per-rollout outcomes of ``n_rollouts`` rollouts, all held in memory.

    Use :func:`run_experiment` for large runs; this is for inspection and tests.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    _check_run(n_rollouts, seed)
    parts = [
        outcomes
        for chunk in _chunk_outcomes(
            policy, service, noise, {"s": scenario}, seed, n_rollouts, chunk_rollouts
        )
        for outcomes, _ in chunk.values()
    ]
    return Outcomes(
        **{
            field: np.concatenate([getattr(part, field) for part in parts])
            for field in Outcomes.__dataclass_fields__
        }
    )


def tally_experiment(
    experiment: Experiment,
    *,
    rollouts: int | None = None,
    seed: int | None = None,
    chunk_rollouts: int | None = None,
    on_chunk: Callable[[int], Any] | None = None,
) -> dict[str, Tally]:
    """Exact integer tallies of every scenario of an experiment, from seeded rollouts.

    Parameters
    ----------
    experiment : Experiment
        Validated configuration.
    rollouts, seed : int, optional
        Override the experiment's ``rollouts`` and ``seed``.
    chunk_rollouts : int, optional
        Rollouts per chunk (memory bound); does not change results. Default:
        :func:`default_chunk_rollouts`.
    on_chunk : callable, optional
        Called with the number of rollouts finished after each chunk (progress display).

    Returns
    -------
    dict of str to Tally
        One tally per scenario in ``experiment.evaluated_scenarios``, in that order.
    """
    n_rollouts = experiment.rollouts if rollouts is None else rollouts
    seed = experiment.seed if seed is None else seed
    _check_run(n_rollouts, seed)
    policy = experiment.policy
    n_stages = len(policy.stages)
    scenarios = experiment.evaluated_scenarios
    if experiment.noise.model == "gaussian" and policy.rule.kind == "threshold":
        return _tally_gaussian_threshold(experiment, seed, n_rollouts, chunk_rollouts, on_chunk)
    n_metrics = len(policy.checks)
    tallies = {name: Tally.empty(n_stages, n_metrics) for name in scenarios}
    for chunk in _chunk_outcomes(
        policy, experiment.service, experiment.noise, scenarios, seed, n_rollouts, chunk_rollouts
    ):
        for name, (outcomes, blast) in chunk.items():
            tallies[name] = tallies[name] + tally_outcomes(outcomes, n_stages, n_metrics, blast)
        if on_chunk is not None:
            on_chunk(outcomes.n_rollouts)
    return tallies


def _tally_gaussian_threshold(
    experiment: Experiment,
    seed: int,
    n_rollouts: int,
    chunk_rollouts: int | None,
    on_chunk: Callable[[int], Any] | None,
) -> dict[str, Tally]:
    """The hot path: the seed's rule on the Gaussian model, counted without per-rollout
    outcomes (:func:`~canary_mc.engine.kernels.threshold_first_failures`)."""
    policy = experiment.policy
    plan = plan_policy(policy)
    scenarios = experiment.evaluated_scenarios
    worlds = {
        name: plan_world(policy, experiment.service, experiment.noise, scenario)
        for name, scenario in scenarios.items()
    }
    presence = any(scenario.intermittent for scenario in scenarios.values())
    shape = (len(plan.metrics), policy.n_steps)
    counts = {name: np.zeros(shape, dtype=np.int64) for name in scenarios}
    if chunk_rollouts is None:
        chunk_rollouts = default_chunk_rollouts(policy.n_steps)
    gauges, signals = checked_gauges(policy), read_signals(policy)
    for start, stop in chunk_ranges(n_rollouts, chunk_rollouts):
        draws = draw_gaussian(
            seed, start, stop, policy.n_steps, presence=presence, gauges=gauges, signals=signals
        )
        for name, world in worlds.items():
            counts[name] += threshold_first_failures(draws, world, plan)
        if on_chunk is not None:
            on_chunk(stop - start)
    return {
        name: tally_first_failures(counts[name], n_rollouts, plan.stage_index, len(policy.stages))
        for name in scenarios
    }


def estimate_experiment(
    experiment: Experiment, tallies: dict[str, Tally], *, seed: int | None = None
) -> ExperimentEstimate:
    """Rates and intervals of an experiment from its per-scenario tallies."""
    scenarios = experiment.evaluated_scenarios
    stage_names = experiment.policy.stage_names
    return ExperimentEstimate(
        unchecked=tuple((stage_names[i], m) for i, m in unchecked_metrics(experiment)),
        experiment=experiment.name,
        seed=experiment.seed if seed is None else seed,
        n_rollouts=next(iter(tallies.values())).n_rollouts,
        healthy_scenario=experiment.healthy_scenario,
        scenarios=tuple(
            ScenarioEstimate.of(tallies[name], experiment.policy, name, scenario.healthy)
            for name, scenario in scenarios.items()
        ),
    )


def run_experiment(
    experiment: Experiment,
    *,
    rollouts: int | None = None,
    seed: int | None = None,
    chunk_rollouts: int | None = None,
    on_chunk: Callable[[int], Any] | None = None,
) -> ExperimentEstimate:
    """Estimate every scenario of an experiment: :func:`tally_experiment`, then rates.

    Returns
    -------
    ExperimentEstimate
        One estimate per scenario in ``experiment.evaluated_scenarios``, in that order.
    """
    tallies = tally_experiment(
        experiment, rollouts=rollouts, seed=seed, chunk_rollouts=chunk_rollouts, on_chunk=on_chunk
    )
    return estimate_experiment(experiment, tallies, seed=seed)


def _check_run(n_rollouts: int, seed: int) -> None:
    if n_rollouts < 1:
        raise ConfigError(f"rollouts must be >= 1, got {n_rollouts}")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")


def _chunk_outcomes(
    policy: Policy,
    service: Service,
    noise: Noise,
    scenarios: dict[str, Scenario],
    seed: int,
    n_rollouts: int,
    chunk_rollouts: int | None,
) -> Iterator[dict[str, tuple[Outcomes, BlastTally | None]]]:
    """Per chunk, every scenario's outcomes (and, counts model, blast-radius tally)."""
    policy_plan = plan_policy(policy)
    if chunk_rollouts is None:
        chunk_rollouts = default_chunk_rollouts(policy.max_steps)
    ranges = chunk_ranges(n_rollouts, chunk_rollouts)
    if noise.model == "counts":
        world = plan_counts_world(policy, service, noise)
        entry = RULES[policy.rule.kind]
        if entry.schedule == "held":
            # The canary's traffic depends on each rollout's stage: drawn step by step.
            for start, stop in ranges:
                held = simulate_counts_held(
                    seed, start, stop, policy, service, world, policy_plan, scenarios
                )
                yield {name: (outcomes, blast) for name, (outcomes, blast, _) in held.items()}
            return
        faults = {name: plan_fault(policy, scenario) for name, scenario in scenarios.items()}
        for start, stop in ranges:
            draws, excess = draw_counts(seed, start, stop, world, list(faults.values()))
            samples = None
            if entry.schedule == "samples":
                samples = counts_samples(
                    seed,
                    start,
                    stop,
                    policy.rule.samples_per_step,
                    world,
                    list(faults.values()),
                    draws.presence_u,
                )
            chunk = {}
            for i, ((name, fault), fault_excess) in enumerate(
                zip(faults.items(), excess, strict=True)
            ):
                observations = observe_counts(draws, fault_excess, world, fault)
                if samples is not None:
                    outcomes = decide_mannwhitney(samples[i], policy_plan)
                else:
                    outcomes = entry.counts(observations, world, policy_plan)
                chunk[name] = (outcomes, tally_blast(*blast_radius(observations, outcomes)))
            yield chunk
        return
    world_plans = {
        name: plan_world(policy, service, noise, scenario) for name, scenario in scenarios.items()
    }
    presence = any(scenario.intermittent for scenario in scenarios.values())
    # A rule that can hold a stage runs up to max_steps steps: draw that many columns.
    gauges, signals = checked_gauges(policy), read_signals(policy)
    for start, stop in ranges:
        draws = draw_gaussian(
            seed, start, stop, policy.max_steps, presence=presence, gauges=gauges, signals=signals
        )
        if RULES[policy.rule.kind].schedule == "samples":
            m = policy.rule.samples_per_step
            yield {
                name: (
                    decide_mannwhitney(
                        gaussian_samples(seed, start, stop, m, world_plan, draws), policy_plan
                    ),
                    None,
                )
                for name, world_plan in world_plans.items()
            }
            continue
        yield {
            name: (rollout_outcomes(draws, world_plan, policy_plan), None)
            for name, world_plan in world_plans.items()
        }
