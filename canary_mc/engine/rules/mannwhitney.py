"""The ``mannwhitney`` rule (Kayenta-style): per-step samples, a one-sided U test.

Draw first, then decide. :func:`draw_samples` draws ``samples_per_step`` samples per side,
step and metric (a new variate family, stream ``rule=mannwhitney/v1``), per 4,096-rollout
block and step-major, so rollout ``i`` gets the same samples whatever chunk it is in.
:func:`u_test_fires` is the pure test.

- Gaussian model: a sample is one measurement with the model's per-step noise:
  canary ``base + effect + sigma z``, baseline ``base + sigma z'`` (not clamped).
- Counts model: each side's sample is a sub-interval of ``min(n_c, n_b) // samples_per_step``
  requests (the same number on both sides, :func:`sample_requests`); a sample is its error rate
  (``Binomial(n_sub, p) / n_sub``, at the service's rate without the step's rate jitter)
  or its latency metric. The fault acts as on the step (thinning for errors, factor and
  delta for latency; a tail-only fault is applied as its factor and delta).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from canary_mc.engine.core.binomial import binomial_from_uniform
from canary_mc.engine.core.outcomes import Outcomes, first_coded_failure, metric_codes
from canary_mc.engine.core.schedule import FaultPlan, PolicyPlan, WorldPlan
from canary_mc.engine.core.streams import BLOCK_ROLLOUTS, block_rng, blocks_of, content_key
from canary_mc.engine.noise.counts import (
    CountsWorldPlan,
    TrafficPlan,
    faulty_error_rate,
    latency_metric,
)
from canary_mc.engine.noise.draws import GaussianDraws
from canary_mc.engine.rules.common import stat_sign
from canary_mc.model.rules import MannWhitneyRule

MW_KEY = content_key("canary-mc", "rule=mannwhitney", "v1")
"""Stream name of the Mann-Whitney samples (scenario-independent standard draws)."""


@dataclass(frozen=True)
class Samples:
    """Per-step samples of both sides, arrays of shape ``(n_rollouts, n_steps, m)``."""

    canary_error: np.ndarray
    baseline_error: np.ndarray
    canary_latency: np.ndarray
    baseline_latency: np.ndarray


def mann_whitney_u(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """U of ``x`` against ``y`` along the last axis, and the tie term ``sum(t^3 - t)``.

    ``U = #{x_i > y_j} + #{x_i == y_j} / 2`` (scipy's ``U1``); the tie term is over the
    pooled sample's groups of equal values: ``sum_i c_i^2 - N`` with ``c_i`` the number of
    pooled values equal to value ``i``.
    """
    gt = (x[..., :, None] > y[..., None, :]).sum(axis=(-2, -1))
    eq = (x[..., :, None] == y[..., None, :]).sum(axis=(-2, -1))
    u = gt + 0.5 * eq
    pooled = np.concatenate([x, y], axis=-1)
    c = (pooled[..., :, None] == pooled[..., None, :]).sum(axis=-1)
    ties = (c * c).sum(axis=-1) - pooled.shape[-1]
    return u, ties


def u_test_fires(
    x: np.ndarray, y: np.ndarray, rule: MannWhitneyRule
) -> np.ndarray:  # fmt: skip
    """Does the canary sample ``x`` exceed ``y`` (one-sided, normal approximation)?

    ``z = (U - m1 m2 / 2 - 1/2) / sqrt(m1 m2 / 12 * ((N + 1) - T / (N (N - 1))))``;
    fires when ``z > Phi^{-1}(confidence)`` (i.e. ``p < 1 - confidence``) and the effect
    tolerance holds. All-equal samples (zero variance) never fire.
    """
    m1, m2 = x.shape[-1], y.shape[-1]
    n = m1 + m2
    u, ties = mann_whitney_u(x, y)
    var = m1 * m2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (u - m1 * m2 / 2.0 - 0.5) / np.sqrt(var)
        fires = z > NormalDist().inv_cdf(rule.confidence)
        if rule.allowed_increase is not None:
            ratio = x.mean(axis=-1) / y.mean(axis=-1)
            fires &= np.isnan(ratio) | (ratio >= rule.allowed_increase)
    return fires & (var > 0)


def decide_mannwhitney(samples: Samples, policy: PolicyPlan) -> Outcomes:
    """The first step where any metric's U test fires decides (the first metric wins a
    tie). Rate metrics test the error samples, latency metrics the latency samples; a
    metric whose bad direction is a decrease of its signal tests the negated samples."""
    rule = policy.rule
    cache: dict[tuple[str, float], np.ndarray] = {}
    fires = []
    for limits in policy.metrics:
        check = limits.check
        key = (check.signal, stat_sign(check))
        if key not in cache:
            x, y = (
                (samples.canary_error, samples.baseline_error)
                if check.signal == "rate"
                else (samples.canary_latency, samples.baseline_latency)
            )
            cache[key] = u_test_fires(x, y, rule) if key[1] > 0 else u_test_fires(-x, -y, rule)
        fires.append(cache[key])
    return first_coded_failure(metric_codes(fires), policy)


def _block_normals(seed, block, variate, n_steps, m):
    z = block_rng(seed, MW_KEY, block, variate).standard_normal((n_steps, m, BLOCK_ROLLOUTS))
    return z


def _rows(a: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Block array ``(n_steps, m, BLOCK)`` to rows ``(hi - lo, n_steps, m)``."""
    return np.moveaxis(a[:, :, lo:hi], -1, 0)


def gaussian_samples(
    seed: int, start: int, stop: int, m: int, world: WorldPlan, draws: GaussianDraws
) -> Samples:
    """Samples of rollouts ``[start, stop)`` under the Gaussian model for one scenario.

    ``draws`` supplies the presence uniforms of an intermittent fault (per step).
    """
    n_steps = draws.n_steps
    parts = {k: [] for k in ("ce", "be", "cl", "bl")}
    for block, lo, hi in blocks_of(start, stop):
        first = block * BLOCK_ROLLOUTS
        for key in parts:
            z = _block_normals(seed, block, key, n_steps, m)
            parts[key].append(_rows(z, lo - first, hi - first))
    z = {k: np.concatenate(v) for k, v in parts.items()}
    effect_e = np.broadcast_to(world.error_effect, (stop - start, n_steps))
    effect_l = np.broadcast_to(world.latency_effect_ms, (stop - start, n_steps))
    if world.intermittent_q < 1:
        present = draws.presence_u < world.intermittent_q
        effect_e = np.where(present, effect_e, 0.0)
        effect_l = np.where(present, effect_l, 0.0)
    return Samples(
        canary_error=world.error_rate + effect_e[..., None] + world.error_sigma * z["ce"],
        baseline_error=world.error_rate + world.error_sigma * z["be"],
        canary_latency=world.latency_ms + effect_l[..., None] + world.latency_sigma_ms * z["cl"],
        baseline_latency=world.latency_ms + world.latency_sigma_ms * z["bl"],
    )


def counts_samples(
    seed: int,
    start: int,
    stop: int,
    m: int,
    world: CountsWorldPlan,
    faults: list[FaultPlan],
    presence_u: np.ndarray | None,
) -> list[Samples]:
    """Samples of rollouts ``[start, stop)`` under the counts model, one per fault.

    Sub-interval errors are drawn for the whole block at the service's rate (the
    parameters do not depend on the rollout), then each fault's extra errors by thinning,
    so every scenario shares the healthy samples.

    Parameters
    ----------
    presence_u : ndarray of float64, shape (stop - start, n_steps), or None
        The counts model's presence uniforms (intermittent faults).
    """
    n_steps = world.n_steps
    cn = bn = sample_requests(world.traffic, m)[:, None, None]
    shape = (n_steps, m, BLOCK_ROLLOUTS)
    p = world.error_rate
    out = [{k: [] for k in ("ce", "be", "cl", "bl")} for _ in faults]
    for block, lo, hi in blocks_of(start, stop):
        first = block * BLOCK_ROLLOUTS

        def rng(variate: str, block: int = block) -> np.random.Generator:
            return block_rng(seed, MW_KEY, block, variate)

        healthy = rng("canary-errors").binomial(np.broadcast_to(cn, shape), p)
        baseline = rng("baseline-errors").binomial(np.broadcast_to(bn, shape), p)
        cz = rng("canary-latency").standard_normal(shape)
        bz = rng("baseline-latency").standard_normal(shape)
        uniform = rng("excess-errors").random((len(faults), *shape))
        rows = slice(lo - first, hi - first)
        base_lat = _latency(bz, bn, world)
        canary_lat = _latency(cz, cn, world)
        for f, (fault, parts) in enumerate(zip(faults, out, strict=True)):
            pres = presence_u[lo - start : hi - start] if fault.intermittent_q < 1 else None
            present = (
                fault.active[None, :]
                if pres is None
                else (fault.active[None, :] & (pres < fault.intermittent_q))
            )  # (rows, n_steps)
            present = np.moveaxis(present, 0, -1)[:, None, :]  # (n_steps, 1, rows)
            columns = FaultPlan(
                active=present,
                error_delta=fault.error_delta[:, None, None],
                error_relative=fault.error_relative[:, None, None],
                latency_delta_ms=fault.latency_delta_ms[:, None, None],
                latency_factor=fault.latency_factor[:, None, None],
                tail_only=fault.tail_only,
                intermittent_q=1.0,
            )
            h = healthy[:, :, rows]
            extra = faulty_error_rate(np.full(h.shape, p), columns, present) - p
            # Thinning by uniforms (one per sub-interval): a binomial by inversion of the
            # same uniforms keeps it scenario-stable.
            prob = np.clip(np.where(extra >= 0, extra / (1 - p), -extra / p), 0, 1)
            trials = np.where(extra >= 0, cn - h, h)
            changed = binomial_from_uniform(trials, prob, uniform[f][:, :, rows])
            errors = h + np.where(extra >= 0, changed, -changed)
            with np.errstate(divide="ignore", invalid="ignore"):
                parts["ce"].append(np.moveaxis(errors / cn, -1, 0))
                parts["be"].append(np.moveaxis(baseline[:, :, rows] / bn, -1, 0))
            factor = np.where(present, columns.latency_factor, 1.0)
            delta = np.where(present, columns.latency_delta_ms, 0.0)
            lat = np.maximum(factor * canary_lat[:, :, rows] + delta, 0.0)
            parts["cl"].append(np.moveaxis(lat, -1, 0))
            parts["bl"].append(np.moveaxis(base_lat[:, :, rows], -1, 0))
    return [
        Samples(
            canary_error=np.concatenate(parts["ce"]),
            baseline_error=np.concatenate(parts["be"]),
            canary_latency=np.concatenate(parts["cl"]),
            baseline_latency=np.concatenate(parts["bl"]),
        )
        for parts in out
    ]


def sample_requests(traffic: TrafficPlan, m: int) -> np.ndarray:
    """Requests behind each sample, the same on both sides: ``min(n_c, n_b) // m``.

    WHY the same: the U test assumes the two sides' samples are identically distributed
    under H0. A sub-interval rate over 90 requests is not distributed as one over 10
    (ties, spread), so with ``baseline: rest`` at 90% traffic a healthy canary failed a
    look about half the time. The larger side's samples use only part of its requests.

    Parameters
    ----------
    traffic : TrafficPlan
    m : int
        Samples per side and step.

    Returns
    -------
    ndarray of int64, shape (n_steps,)
    """
    return np.minimum(traffic.canary_requests, traffic.baseline_requests) // m


def _latency(z: np.ndarray, requests: np.ndarray, world: CountsWorldPlan) -> np.ndarray:
    # Sub-interval latency metric; quantiles by the normal order-statistic approximation
    # of the standardised draw (the sample's rank statistic is all the U test uses).
    # A step where a side serves nothing (baseline: rest at 100%) has 0 requests per
    # sample: NaN samples, which never fire.
    with np.errstate(invalid="ignore", divide="ignore"):
        return latency_metric(
            z, requests, world.latency_ms, world.latency_log_sigma, world.quantile
        )
