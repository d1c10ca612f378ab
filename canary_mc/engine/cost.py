"""What a rollout-step costs: each rule's measured speed and working set, per noise model.

The single place that knows how fast and how large the engine is. The work estimate
(:mod:`canary_mc.sweep.estimate`) turns these into seconds and bytes before anything
runs, and the chunked driver sizes its chunks by :func:`working_set_bytes`, so a rule
with a large working set (``mannwhitney``) runs in smaller chunks.

Every figure was measured by ``scripts/calibrate_work.py`` on the project's 2-core
machine while about six other sessions shared it (2026-11-29): speeds are single-core
rollout-steps per second per scenario, rounded down; working sets are traced peak bytes
per rollout-step of one chunk, rounded up. Rerun the script after changing a kernel.
"""

from __future__ import annotations

from canary_mc.engine.core.streams import BLOCK_ROLLOUTS
from canary_mc.model import Noise, Policy

SPEEDS = {
    # rule: (gaussian, counts) rollout-steps per second per scenario, one core.
    "threshold": (4.0e7, 3.8e6),
    "failure_limit": (1.4e7, 4.0e6),
    "cumulative_checks": (2.0e7, 1.8e6),
    "ztest": (2.0e7, 6.0e6),
    "sprt": (2.0e7, 3.3e6),
    "msprt": (1.3e7, 3.9e6),
}
"""Measured: threshold 4.5e7 / 3.9e6, failure_limit 1.4e7 / 4.0e6, cumulative_checks
2.3e7 / 1.8e6, ztest 2.3e7 / 6.2e6, sprt 2.2e7 / 3.4e6, msprt 1.35e7 / 3.9e6."""

MW_SECONDS = (1.2e-6, 4e-9)
"""``mannwhitney``: seconds per rollout-step and scenario are ``a + b m^3`` for ``m``
samples per side: measured 1.2, 4.2 and 60 microseconds at m = 4, 10, 25 (Gaussian; the
counts model measured 1.0, 2.4 and 21, below the fit). The U test's pairwise arrays
grow as ``m^2`` and fall out of cache as they grow, hence the cube."""

WORKING_SET = {"gaussian": 64, "counts": 170}
"""Bytes per rollout-step of a chunk, every rule but ``mannwhitney``: measured at most
62 (Gaussian) and 169 (counts)."""

MW_WORKING_SET = (700, 140, 3.0)
"""``mannwhitney``: bytes per rollout-step are ``a + b m + c m^2`` for ``m`` samples per
side (the samples, then the U test's pairwise comparisons): measured 546, 1,190, 2,270,
4,430 and 10,370 at m = 2, 5, 10, 20, 40 on the counts model; the Gaussian model
measured less at every m (244 to 9,025)."""

CHUNK_ELEMENTS = 1 << 18
"""Target rollout-steps per chunk of a plain rule: about 2 MB per float array, so a
chunk's working set stays in cache (measured fastest on seed.yaml). A rule with a larger
working set gets proportionally fewer; a chunk is never less than one block."""

PLAN_BYTES_PER_POINT = 6000
"""Memory of one expanded grid point held by a sweep's plan: measured 4,700 bytes
(traced, a 10,000-point counts grid)."""

POINT_SECONDS = 1e-3
"""Fixed cost of one grid point besides its rollouts (validate it, hash its key, save
its tallies, its rows): expansion alone measured 0.36 ms per point."""


def _samples(policy: Policy) -> int | None:
    # Rules that draw per-step samples (mannwhitney, kayenta) cost as the U test does.
    return getattr(policy.rule, "samples_per_step", None)


def _metric_factor(policy: Policy) -> float:
    """The speeds were measured on the shorthand's two metrics; more metrics cost more."""
    return max(1.0, len(policy.checks) / 2)


def seconds_per_rollout_step(policy: Policy, noise: Noise) -> float:
    """Single-core seconds per rollout-step and scenario of the policy's rule."""
    m = _samples(policy)
    if m is not None:
        return (MW_SECONDS[0] + MW_SECONDS[1] * m**3) * _metric_factor(policy)
    gaussian, counts = SPEEDS[policy.rule.kind]
    return _metric_factor(policy) / (counts if noise.model == "counts" else gaussian)


def working_set_bytes(policy: Policy, noise: Noise) -> float:
    """Peak bytes per rollout-step of a chunk (all scenarios of the chunk included)."""
    m = _samples(policy)
    if m is not None:
        a, b, c = MW_WORKING_SET
        return a + b * m + c * m * m
    return float(WORKING_SET[noise.model])


def chunk_rollouts(policy: Policy, noise: Noise) -> int:
    """Rollouts per chunk: whole blocks, :data:`CHUNK_ELEMENTS` rollout-steps scaled down
    by the rule's working set relative to a plain rule's, at least one block."""
    scale = working_set_bytes(policy, noise) / WORKING_SET[noise.model]
    per_chunk = CHUNK_ELEMENTS / (policy.max_steps * scale * BLOCK_ROLLOUTS)
    return max(1, int(per_chunk)) * BLOCK_ROLLOUTS


def chunk_bytes(policy: Policy, noise: Noise) -> float:
    """Peak working set of one chunk, in bytes: at most the larger of
    :func:`target_bytes` and :func:`block_bytes`."""
    return chunk_rollouts(policy, noise) * policy.max_steps * working_set_bytes(policy, noise)


def target_bytes(noise: Noise) -> float:
    """Working set of a chunk of :data:`CHUNK_ELEMENTS` rollout-steps of a plain rule."""
    return float(CHUNK_ELEMENTS * WORKING_SET[noise.model])


def block_bytes(policy: Policy, noise: Noise) -> float:
    """Working set of the smallest chunk, one block: a floor no chunk size goes under."""
    return BLOCK_ROLLOUTS * policy.max_steps * working_set_bytes(policy, noise)


def simulated_rollouts(rollouts: int) -> int:
    """Rollouts actually simulated: the engine draws whole blocks of 4,096."""
    return -(-rollouts // BLOCK_ROLLOUTS) * BLOCK_ROLLOUTS
