"""The counts noise model (``noise.model: counts``): traffic, error counts, latency metrics.

Draw first, then decide, as for the Gaussian model:

1. :func:`plan_counts_world` lays out the scenario-independent world step by step:
   requests per side (:func:`plan_traffic`), rates, latency distribution.
2. :func:`draw_counts` draws, per 4,096-rollout block and step-major, the random parts:
   the healthy canary's and the baseline's error counts, standardised latency metrics,
   presence uniforms for intermittent faults, and, per scenario, the errors its fault
   adds to (or removes from) the healthy canary's.
3. :func:`observe_counts` (pure) turns them into :class:`CountsObservations`, what the
   controller sees: integer counts and latency metrics of both sides.
4. :func:`decide_counts_threshold` (pure) applies the threshold rule, comparing rates in
   exact integer arithmetic; :func:`blast_radius` measures what the canary served.

Every random number comes from a generator keyed by :data:`COUNTS_WORLD_KEY`, the block and
the variate's name, never by the scenario: see ``docs/model.md`` for which common-random-
number properties this gives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

import numpy as np

from canary_mc.engine.core.normal import normal_quantile
from canary_mc.engine.core.outcomes import (
    Outcomes,
    first_coded_failure,
)
from canary_mc.engine.core.schedule import FaultPlan, PolicyPlan, exact_decimal
from canary_mc.engine.core.streams import BLOCK_ROLLOUTS, block_rng, blocks_of, content_key
from canary_mc.engine.noise.draws import PRESENCE_VARIATE
from canary_mc.errors import ConfigError
from canary_mc.model import CountsNoise, Policy, Service
from canary_mc.stats.tally import BlastTally

COUNTS_WORLD_KEY = content_key("canary-mc", "noise=counts", "v1")
"""Stream name of the counts model. Draws depend on the seed, the traffic and the
service's rates, never on the scenario or the thresholds."""

QUANTILE_LEVELS = {"p50": Fraction(1, 2), "p95": Fraction(95, 100), "p99": Fraction(99, 100)}
"""Latency metrics that are sample quantiles, and their levels."""

Z99 = NormalDist().inv_cdf(0.99)
"""``Phi^{-1}(0.99)``: a tail-only latency fault moves the p99 of one request's latency."""


@dataclass(frozen=True)
class TrafficPlan:
    """Requests served by each side at each step.

    Attributes
    ----------
    canary_requests, baseline_requests : ndarray of int64, shape (n_steps,)
    """

    canary_requests: np.ndarray
    baseline_requests: np.ndarray


def plan_traffic(policy: Policy, service: Service) -> TrafficPlan:
    """Requests per side and step.

    Step ``j`` carries ``T_j = round(requests_per_step * (1 + a * sin(2 pi j / period)))``
    requests (``T_j = requests_per_step`` when ``a = 0``); the canary serves
    ``round(T_j * traffic_pct / 100)`` of them, rounded half up in exact arithmetic; the
    baseline the rest, or as many as the canary with ``baseline: matched``.
    """
    if service.requests_per_step is None:
        raise ConfigError("service.requests_per_step is required by noise.model: counts")
    pct = [exact_decimal(s.traffic_pct) for s in policy.stages for _ in range(s.duration_steps)]
    canary, baseline = [], []
    for j, traffic in enumerate(pct):
        total = service.requests_per_step
        if service.diurnal_amplitude:
            cycle = math.sin(2 * math.pi * j / service.diurnal_period_steps)
            total = math.floor(total * (1 + service.diurnal_amplitude * cycle) + 0.5)
        served = math.floor(total * traffic / 100 + Fraction(1, 2))
        canary.append(served)
        baseline.append(served if service.baseline == "matched" else total - served)
    return TrafficPlan(
        canary_requests=np.array(canary, dtype=np.int64),
        baseline_requests=np.array(baseline, dtype=np.int64),
    )


@dataclass(frozen=True)
class CountsWorldPlan:
    """The scenario-independent counts world.

    Attributes
    ----------
    traffic : TrafficPlan
    error_rate : float
        The service's true error rate (fraction).
    common_sigma, own_sigma : float
        Log-sd of the shared and of each side's own lognormal rate multiplier.
    latency_ms : float
        Median latency of one request (ms).
    latency_log_sigma : float
    quantile : Fraction or None
        Level of the latency metric's sample quantile; ``None`` for the mean.
    """

    traffic: TrafficPlan
    error_rate: float
    common_sigma: float
    own_sigma: float
    latency_ms: float
    latency_log_sigma: float
    quantile: Fraction | None

    @property
    def n_steps(self) -> int:
        return self.traffic.canary_requests.shape[0]


def plan_counts_world(policy: Policy, service: Service, noise: CountsNoise) -> CountsWorldPlan:
    """Lay out the counts world; see :class:`CountsWorldPlan`."""
    sigma = noise.error_dispersion
    common, own = {
        "independent": (0.0, sigma),
        "common": (sigma, 0.0),
        "both": (sigma / math.sqrt(2), sigma / math.sqrt(2)),
    }[noise.error_dispersion_mode]
    return CountsWorldPlan(
        traffic=plan_traffic(policy, service),
        error_rate=service.error_rate,
        common_sigma=common,
        own_sigma=own,
        latency_ms=service.latency_ms,
        latency_log_sigma=noise.latency_log_sigma,
        quantile=QUANTILE_LEVELS.get(noise.latency_metric),
    )


@dataclass(frozen=True)
class CountsDraws:
    """The scenario-independent random parts of a batch of rollouts.

    Attributes
    ----------
    healthy_rate : ndarray of float64, shape (n_rollouts, n_steps)
        The healthy canary's error rate at that step, after rate jitter (fraction).
    healthy_canary_errors : ndarray of int64, shape (n_rollouts, n_steps)
        Errors a healthy canary would serve: ``Binomial(canary_requests, healthy_rate)``.
    baseline_errors : ndarray of int64, shape (n_rollouts, n_steps)
    canary_latency_z, baseline_latency_z : ndarray of float64, shape (n_rollouts, n_steps)
        Standardised latency metric: for a quantile metric ``Phi^{-1}(U_(k))`` with
        ``U_(k) ~ Beta(k, n + 1 - k)`` the k-th order statistic of ``n`` uniforms (exact);
        for the mean a standard normal. NaN where the side served no requests.
    presence_u : ndarray of float64, shape (n_rollouts, n_steps), or None
        Uniforms for intermittent faults (drawn only if some scenario is intermittent).
    """

    healthy_rate: np.ndarray
    healthy_canary_errors: np.ndarray
    baseline_errors: np.ndarray
    canary_latency_z: np.ndarray
    baseline_latency_z: np.ndarray
    presence_u: np.ndarray | None

    @property
    def n_rollouts(self) -> int:
        return self.healthy_canary_errors.shape[0]


def fault_present(fault: FaultPlan, presence_u: np.ndarray | None) -> np.ndarray:
    """Where the fault is present: active, and (intermittent) ``presence_u < q``.

    Returns
    -------
    ndarray of bool, shape (n_steps,) or (n_rollouts, n_steps)
    """
    if fault.intermittent_q < 1:
        return fault.active & (presence_u < fault.intermittent_q)
    return fault.active


def faulty_error_rate(
    healthy_rate: np.ndarray, fault: FaultPlan, present: np.ndarray
) -> np.ndarray:
    """The canary's error rate under a fault: ``clip(p (1 + rel) + delta, 0, 1)`` where present."""
    changed = np.clip(healthy_rate * (1.0 + fault.error_relative) + fault.error_delta, 0.0, 1.0)
    return np.where(present, changed, healthy_rate)


def has_error_effect(fault: FaultPlan) -> bool:
    return bool(np.any(fault.error_delta != 0) or np.any(fault.error_relative != 0))


def draw_counts(
    seed: int,
    start: int,
    stop: int,
    world: CountsWorldPlan,
    faults: Sequence[FaultPlan],
) -> tuple[CountsDraws, list[np.ndarray]]:
    """Draw rollouts ``[start, stop)`` of the counts model, whole blocks at a time.

    Each block draws every variate for all its 4,096 rollouts, step-major, so rollout
    ``i`` at step ``j`` gets the same numbers whatever range it is drawn in.

    The errors a fault adds are drawn by coupling (superposition/thinning): with healthy
    count ``X1 ~ Bin(n, p)`` and faulty rate ``p' >= p``, the fault adds
    ``Bin(n - X1, (p' - p) / (1 - p))`` errors; with ``p' < p`` it removes
    ``Bin(X1, (p - p') / p)``. Either way the total is ``Bin(n, p')`` exactly, and the
    healthy part is shared by every scenario.

    Parameters
    ----------
    seed : int
    start, stop : int
        Global rollout indices.
    world : CountsWorldPlan
    faults : sequence of FaultPlan
        One per scenario.

    Returns
    -------
    draws : CountsDraws
        Arrays of shape ``(stop - start, n_steps)``.
    excess_errors : list of ndarray of int64, shape (stop - start, n_steps)
        Per fault: errors the fault added to the healthy canary's (negative if removed).
    """
    n_steps = world.n_steps
    shape = (stop - start, n_steps)
    any_intermittent = any(f.intermittent_q < 1 for f in faults)
    out = {
        name: np.empty(shape, dtype=dtype)
        for name, dtype in (
            ("healthy_rate", np.float64),
            ("healthy_canary_errors", np.int64),
            ("baseline_errors", np.int64),
            ("canary_latency_z", np.float64),
            ("baseline_latency_z", np.float64),
        )
    }
    presence_u = np.empty(shape) if any_intermittent else None
    excess = [np.zeros(shape, dtype=np.int64) for _ in faults]
    cn = world.traffic.canary_requests[:, None]
    bn = world.traffic.baseline_requests[:, None]
    block_shape = (n_steps, BLOCK_ROLLOUTS)
    for block, lo, hi in blocks_of(start, stop):
        first = block * BLOCK_ROLLOUTS

        def rng(variate: str, block: int = block) -> np.random.Generator:
            return block_rng(seed, COUNTS_WORLD_KEY, block, variate)

        # Rate jitter: mean-one lognormal multipliers, shared and per side.
        canary_log = np.zeros(block_shape)
        baseline_log = np.zeros(block_shape)
        if world.common_sigma > 0:
            s = world.common_sigma
            common = s * rng("error-common").standard_normal(block_shape) - s * s / 2
            canary_log += common
            baseline_log += common
        if world.own_sigma > 0:
            s = world.own_sigma
            canary_log += s * rng("error-canary-jitter").standard_normal(block_shape) - s * s / 2
            baseline_log += (
                s * rng("error-baseline-jitter").standard_normal(block_shape) - s * s / 2
            )
        healthy_rate = np.minimum(world.error_rate * np.exp(canary_log), 1.0)
        baseline_rate = np.minimum(world.error_rate * np.exp(baseline_log), 1.0)
        healthy_errors = rng("canary-errors").binomial(cn, healthy_rate)
        baseline_errors = rng("baseline-errors").binomial(bn, baseline_rate)
        canary_z = _latency_z(rng("canary-latency"), world.traffic.canary_requests, world)
        baseline_z = _latency_z(rng("baseline-latency"), world.traffic.baseline_requests, world)
        block_presence = rng(PRESENCE_VARIATE).random(block_shape) if any_intermittent else None

        rows = slice(lo - start, hi - start)
        cols = slice(lo - first, hi - first)
        out["healthy_rate"][rows] = healthy_rate[:, cols].T
        out["healthy_canary_errors"][rows] = healthy_errors[:, cols].T
        out["baseline_errors"][rows] = baseline_errors[:, cols].T
        out["canary_latency_z"][rows] = canary_z[:, cols].T
        out["baseline_latency_z"][rows] = baseline_z[:, cols].T
        if presence_u is not None:
            presence_u[rows] = block_presence[:, cols].T

        for fault, fault_excess in zip(faults, excess, strict=True):
            if not has_error_effect(fault):
                continue
            columns = _columns(fault)
            present = fault_present(columns, block_presence)
            extra = faulty_error_rate(healthy_rate, columns, present) - healthy_rate
            adding = extra >= 0
            with np.errstate(divide="ignore", invalid="ignore"):
                prob = np.where(adding, extra / (1.0 - healthy_rate), -extra / healthy_rate)
            prob = np.clip(np.nan_to_num(prob, nan=0.0), 0.0, 1.0)
            trials = np.where(adding, cn - healthy_errors, healthy_errors)
            changed = rng("excess-errors").binomial(trials, prob)
            fault_excess[rows] = np.where(adding, changed, -changed)[:, cols].T
    return CountsDraws(presence_u=presence_u, **out), excess


def _latency_z(
    rng: np.random.Generator, requests: np.ndarray, world: CountsWorldPlan
) -> np.ndarray:
    """Standardised latency metric of one side for a block, shape ``(n_steps, BLOCK_ROLLOUTS)``."""
    size = (requests.shape[0], BLOCK_ROLLOUTS)
    if world.quantile is None:
        z = rng.standard_normal(size)
    else:
        # k-th smallest of n: k = ceil(q n). U_(k) = G_k / (G_k + G_{n+1-k}) ~ Beta(k, n+1-k),
        # and the upper tail 1 - U_(k) is computed directly for precision near 1.
        n = np.maximum(requests, 1)
        k = -((-world.quantile.numerator * n) // world.quantile.denominator)
        g_low = rng.standard_gamma(np.broadcast_to(k[:, None].astype(np.float64), size))
        g_high = rng.standard_gamma(np.broadcast_to((n + 1 - k)[:, None].astype(np.float64), size))
        total = g_low + g_high
        low = g_low / total
        z = np.where(low < 0.5, normal_quantile(low), -normal_quantile(g_high / total))
    z[requests == 0] = np.nan
    return z


def _columns(fault: FaultPlan) -> FaultPlan:
    """The fault's per-step arrays as columns, shape ``(n_steps, 1)``, for step-major blocks."""
    return FaultPlan(
        active=fault.active[:, None],
        error_delta=fault.error_delta[:, None],
        error_relative=fault.error_relative[:, None],
        latency_delta_ms=fault.latency_delta_ms[:, None],
        latency_factor=fault.latency_factor[:, None],
        tail_only=fault.tail_only,
        intermittent_q=fault.intermittent_q,
    )


@dataclass(frozen=True)
class CountsObservations:
    """What the controller sees at every step under the counts model.

    This is the input of every decision rule on counts (threshold here; z-tests and
    SPRT in ``engine/rules``): both sides are measured.

    Attributes
    ----------
    canary_errors, canary_requests : ndarray of int64, shape (n_rollouts, n_steps)
    baseline_errors, baseline_requests : ndarray of int64, shape (n_rollouts, n_steps)
        Request counts are the same for every rollout (read-only broadcast views).
    canary_latency_ms, baseline_latency_ms : ndarray of float64, shape (n_rollouts, n_steps)
        The chosen latency metric (mean or sample quantile of the step's requests), NaN
        where the side served no requests.
    excess_errors : ndarray of int64, shape (n_rollouts, n_steps)
        Errors the fault caused: canary errors minus those the same canary would have
        served healthy, on the same draws (0 for a healthy scenario).
    """

    canary_errors: np.ndarray
    canary_requests: np.ndarray
    baseline_errors: np.ndarray
    baseline_requests: np.ndarray
    canary_latency_ms: np.ndarray
    baseline_latency_ms: np.ndarray
    excess_errors: np.ndarray

    @property
    def no_data(self) -> np.ndarray:
        """Steps where a rate is undefined (a side served no requests), shape like the arrays."""
        return (self.canary_requests == 0) | (self.baseline_requests == 0)


def latency_metric(
    z: np.ndarray, requests: np.ndarray, median_ms: float, log_sigma: np.ndarray | float,
    quantile: Fraction | None,
) -> np.ndarray:  # fmt: skip
    """The latency metric of ``n`` lognormal requests from its standardised draw.

    Quantile metrics are exact: ``median * exp(log_sigma * z)``. The mean uses the
    Fenton-Wilkinson approximation: the mean of ``n`` iid lognormal latencies as a
    lognormal with the same mean and variance, log-variance
    ``s2 = log(1 + (exp(sigma^2) - 1) / n)``.
    """
    if quantile is not None:
        return median_ms * np.exp(log_sigma * z)
    sigma2 = np.square(log_sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = np.log1p(np.expm1(sigma2) / requests)
    return median_ms * np.exp(sigma2 / 2 - s2 / 2 + np.sqrt(s2) * z)


def observe_counts(
    draws: CountsDraws, excess_errors: np.ndarray, world: CountsWorldPlan, fault: FaultPlan
) -> CountsObservations:
    """Observations of one scenario from the shared draws and its excess errors.

    Parameters
    ----------
    draws : CountsDraws
        Arrays of shape ``(n_rollouts, n_steps)``.
    excess_errors : ndarray of int64, shape (n_rollouts, n_steps)
        This scenario's, from :func:`draw_counts`.
    world : CountsWorldPlan
    fault : FaultPlan

    Returns
    -------
    CountsObservations
    """
    shape = draws.healthy_canary_errors.shape
    cn, bn = world.traffic.canary_requests, world.traffic.baseline_requests
    present = fault_present(fault, draws.presence_u)
    m, sigma = world.latency_ms, world.latency_log_sigma
    baseline_latency = latency_metric(draws.baseline_latency_z, bn, m, sigma, world.quantile)
    if fault.tail_only:
        p99 = m * math.exp(sigma * Z99)
        target = fault.latency_factor * p99 + fault.latency_delta_ms
        with np.errstate(divide="ignore", invalid="ignore"):
            widened = np.log(target / m) / Z99
        widened = np.maximum(np.nan_to_num(widened, nan=0.0, neginf=0.0), 0.0)
        canary_sigma = np.where(present, widened, sigma)
        canary_latency = latency_metric(draws.canary_latency_z, cn, m, canary_sigma, world.quantile)
    else:
        factor = np.where(present, fault.latency_factor, 1.0)
        delta = np.where(present, fault.latency_delta_ms, 0.0)
        canary_latency = np.maximum(
            factor * latency_metric(draws.canary_latency_z, cn, m, sigma, world.quantile) + delta,
            0.0,
        )
    return CountsObservations(
        canary_errors=draws.healthy_canary_errors + excess_errors,
        canary_requests=np.broadcast_to(cn, shape),
        baseline_errors=draws.baseline_errors,
        baseline_requests=np.broadcast_to(bn, shape),
        canary_latency_ms=np.broadcast_to(canary_latency, shape),
        baseline_latency_ms=baseline_latency,
        excess_errors=excess_errors,
    )


_INT64_SAFE = 2**62


def rate_delta_exceeds(
    canary_errors: np.ndarray,
    canary_requests: np.ndarray,
    baseline_errors: np.ndarray,
    baseline_requests: np.ndarray,
    threshold: Sequence[Fraction],
) -> np.ndarray:
    """Is ``canary_errors / canary_requests - baseline_errors / baseline_requests > threshold``?

    With ``threshold = P / Q`` and positive request counts the comparison is
    ``(e_c n_b - e_b n_c) Q > P n_c n_b``, in integers: no rounding can decide a tie such
    as ``5/100 - 57/1900 = 0.02``. Steps whose products could overflow int64 are
    compared with Python integers instead. Steps with a zero request count give False
    (they have no data; see :attr:`CountsObservations.no_data`).

    Parameters
    ----------
    canary_errors, canary_requests, baseline_errors, baseline_requests : ndarray of int64
        Shape ``(n_rollouts, n_steps)``.
    threshold : sequence of Fraction, length n_steps

    Returns
    -------
    ndarray of bool, shape (n_rollouts, n_steps)
    """
    num = np.array([t.numerator for t in threshold], dtype=object)
    den = np.array([t.denominator for t in threshold], dtype=object)
    if canary_requests.size:
        # At least 1 per side: the threshold's own terms must fit too.
        bound = (
            np.maximum(canary_requests.max(axis=0), 1).astype(object)
            * np.maximum(baseline_requests.max(axis=0), 1).astype(object)
            * (den + np.abs(num))
        )
    else:
        bound = den + np.abs(num)
    safe = np.array([b < _INT64_SAFE for b in bound], dtype=bool)
    out = np.empty(canary_errors.shape, dtype=bool)
    columns = {True: np.flatnonzero(safe), False: np.flatnonzero(~safe)}
    for is_safe, cols in columns.items():
        if not cols.size:
            continue
        dtype = np.int64 if is_safe else object
        ce, cn = canary_errors[:, cols].astype(dtype), canary_requests[:, cols].astype(dtype)
        be, bn = baseline_errors[:, cols].astype(dtype), baseline_requests[:, cols].astype(dtype)
        p = num[cols].astype(dtype) if is_safe else num[cols]
        q = den[cols].astype(dtype) if is_safe else den[cols]
        out[:, cols] = ((ce * bn - be * cn) * q > p * cn * bn) & (cn > 0) & (bn > 0)
    return out


# Failure code: bit 0 error, bit 1 latency, 4 = no data (only under no_data: fail).


def decide_counts_threshold(observations: CountsObservations, policy: PolicyPlan) -> Outcomes:
    """The threshold rule on counts: roll back at the first step where a delta exceeds its limit.

    The error delta is ``canary_errors / canary_requests - baseline_errors /
    baseline_requests``, compared with the stage's threshold exactly
    (:func:`rate_delta_exceeds`; ``>`` is strict). The latency delta is the canary's
    metric minus the baseline's, in floating point (a continuous quantity). A step with
    no data decides as ``policy.no_data`` says: ``fail`` rolls back (reason
    ``no_data``), ``pass`` and ``hold`` go on.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    o = observations
    code = rate_delta_exceeds(
        o.canary_errors,
        o.canary_requests,
        o.baseline_errors,
        o.baseline_requests,
        policy.error_threshold_exact,
    ).view(np.uint8)
    with np.errstate(invalid="ignore"):
        latency_fails = (o.canary_latency_ms - o.baseline_latency_ms) > policy.latency_threshold_ms
    code |= latency_fails.view(np.uint8) << 1
    no_data = o.no_data
    code[no_data] = 4 if policy.no_data == "fail" else 0
    return first_coded_failure(code, policy)


def blast_radius(
    observations: CountsObservations, outcomes: Outcomes
) -> tuple[np.ndarray, np.ndarray]:
    """What each rollout's canary served up to and including its decision step.

    Returns
    -------
    canary_requests : ndarray of int64, shape (n_rollouts,)
        Requests the canary served.
    excess_errors : ndarray of int64, shape (n_rollouts,)
        Errors served beyond those the healthy canary would have served on the same
        draws: the errors the fault caused before rollback or completion.
    """
    last = (outcomes.steps_run - 1)[:, None]
    served = np.take_along_axis(np.cumsum(observations.canary_requests, axis=1), last, axis=1)
    excess = np.take_along_axis(np.cumsum(observations.excess_errors, axis=1), last, axis=1)
    return served[:, 0], excess[:, 0]


def tally_blast(canary_requests: np.ndarray, excess_errors: np.ndarray) -> BlastTally:
    """Exact integer sums and the histogram of excess errors, for chunk-invariant aggregates."""
    values, counts = np.unique(excess_errors, return_counts=True)
    requests = canary_requests.astype(object)
    excess = excess_errors.astype(object)
    return BlastTally(
        canary_requests_sum=int(requests.sum()),
        canary_requests_sq_sum=int((requests * requests).sum()),
        excess_errors_sum=int(excess.sum()),
        excess_errors_sq_sum=int((excess * excess).sum()),
        excess_errors_histogram=tuple(
            (int(v), int(c)) for v, c in zip(values, counts, strict=True)
        ),
    )
