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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from statistics import NormalDist

import numpy as np

from canary_mc.engine.core.normal import normal_quantile
from canary_mc.engine.core.outcomes import Outcomes, first_coded_failure, metric_codes
from canary_mc.engine.core.schedule import FaultPlan, MetricLimits, PolicyPlan, exact_decimal
from canary_mc.engine.core.streams import BLOCK_ROLLOUTS, block_rng, blocks_of, content_key
from canary_mc.engine.noise.draws import PRESENCE_VARIATE
from canary_mc.errors import ConfigError
from canary_mc.model import CountsNoise, Policy, Service
from canary_mc.model.metrics import QUANTILE_LEVELS, MetricCheck
from canary_mc.stats.tally import BlastTally

COUNTS_WORLD_KEY = content_key("canary-mc", "noise=counts", "v1")
"""Stream name of the counts model. Draws depend on the seed, the traffic and the
service's rates, never on the scenario or the thresholds."""


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
        Level of the latency metric's sample quantile; ``None`` for the mean. This is
        the default statistic (``noise.latency_metric``), drawn from the streams
        ``canary-latency`` and ``baseline-latency``.
    extra_stats : tuple of str
        Other latency statistics the policy's metrics read, each from its own streams
        (``canary-latency:<stat>``; drawn independently of the default's).
    gauges : tuple of (str, float, float)
        The checked gauges: name, healthy value, per-step noise sd of each side.
    default_stat : str
        The name of the default statistic.
    """

    traffic: TrafficPlan
    error_rate: float
    common_sigma: float
    own_sigma: float
    latency_ms: float
    latency_log_sigma: float
    quantile: Fraction | None
    extra_stats: tuple[str, ...] = ()
    gauges: tuple[tuple[str, float, float], ...] = ()
    default_stat: str = "mean"

    def with_stat(self, stat: str) -> CountsWorldPlan:
        """This world, reading latency statistic ``stat`` (same traffic and rates)."""
        if stat == self.default_stat:
            return self
        return replace(self, quantile=QUANTILE_LEVELS.get(stat), default_stat=stat, extra_stats=())

    def stat_of(self, check: MetricCheck) -> str:
        """The latency statistic a metric reads (its ``stat``, or the default)."""
        return check.stat or self.default_stat

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
        extra_stats=tuple(
            dict.fromkeys(
                c.stat
                for c in policy.checks
                if c.kind == "latency" and c.stat not in (None, noise.latency_metric)
            )
        ),
        gauges=tuple(
            (c.name, service.gauges[c.name].mean, service.gauges[c.name].sigma)
            for c in policy.checks
            if c.kind == "gauge"
        ),
        default_stat=noise.latency_metric,
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
    extra_latency_z : dict of str to (ndarray, ndarray)
        Per extra latency statistic, the canary's and the baseline's standardised draw.
    gauge_z : dict of str to (ndarray, ndarray)
        Per checked gauge, the canary's and the baseline's standard normals.
    """

    healthy_rate: np.ndarray
    healthy_canary_errors: np.ndarray
    baseline_errors: np.ndarray
    canary_latency_z: np.ndarray
    baseline_latency_z: np.ndarray
    presence_u: np.ndarray | None
    extra_latency_z: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    gauge_z: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

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
    extra_latency = {stat: (np.empty(shape), np.empty(shape)) for stat in world.extra_stats}
    gauge_z = {name: (np.empty(shape), np.empty(shape)) for name, _, _ in world.gauges}
    excess = [np.zeros(shape, dtype=np.int64) for _ in faults]
    cn = world.traffic.canary_requests[:, None]
    bn = world.traffic.baseline_requests[:, None]
    block_shape = (n_steps, BLOCK_ROLLOUTS)
    for block, lo, hi in blocks_of(start, stop):
        first = block * BLOCK_ROLLOUTS

        def rng(variate: str, block: int = block) -> np.random.Generator:
            return block_rng(seed, COUNTS_WORLD_KEY, block, variate)

        healthy_rate, baseline_rate = jittered_rates(rng, world, block_shape)
        healthy_errors = rng("canary-errors").binomial(cn, healthy_rate)
        baseline_errors = rng("baseline-errors").binomial(bn, baseline_rate)
        canary_z = draw_latency_z(rng("canary-latency"), cn, world.quantile, block_shape)
        baseline_z = draw_latency_z(rng("baseline-latency"), bn, world.quantile, block_shape)
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
        # Extra latency statistics and gauges: their own streams, after the seed's.
        for stat in world.extra_stats:
            q = QUANTILE_LEVELS.get(stat)
            for side, n_side, k in (("canary", cn, 0), ("baseline", bn, 1)):
                z = draw_latency_z(rng(f"{side}-latency:{stat}"), n_side, q, block_shape)
                extra_latency[stat][k][rows] = z[:, cols].T
        for name, _, _ in world.gauges:
            for side, k in (("canary", 0), ("baseline", 1)):
                z = rng(f"{side}-gauge:{name}").standard_normal(block_shape)
                gauge_z[name][k][rows] = z[:, cols].T

        for fault, fault_excess in zip(faults, excess, strict=True):
            if not has_error_effect(fault):
                continue
            columns = fault.as_columns()
            present = fault_present(columns, block_presence)
            fault_excess[rows] = thinned_excess(
                rng("excess-errors"), healthy_rate, healthy_errors, cn, columns, present
            )[:, cols].T
    return (
        CountsDraws(presence_u=presence_u, extra_latency_z=extra_latency, gauge_z=gauge_z, **out),
        excess,
    )


def jittered_rates(
    rng: Callable[[str], np.random.Generator], world: CountsWorldPlan, size: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The healthy canary's and the baseline's error rates after rate jitter.

    Mean-one lognormal multipliers on ``world.error_rate``: one shared by both sides
    (``error-common``) and one per side (``error-canary-jitter``,
    ``error-baseline-jitter``), each drawn only if its log-sd is positive; rates capped
    at 1.

    Returns
    -------
    canary_rate, baseline_rate : ndarray of float64, shape ``size``
    """
    canary_log = np.zeros(size)
    baseline_log = np.zeros(size)
    if world.common_sigma > 0:
        s = world.common_sigma
        common = s * rng("error-common").standard_normal(size) - s * s / 2
        canary_log += common
        baseline_log += common
    if world.own_sigma > 0:
        s = world.own_sigma
        canary_log += s * rng("error-canary-jitter").standard_normal(size) - s * s / 2
        baseline_log += s * rng("error-baseline-jitter").standard_normal(size) - s * s / 2
    return (
        np.minimum(world.error_rate * np.exp(canary_log), 1.0),
        np.minimum(world.error_rate * np.exp(baseline_log), 1.0),
    )


def thinned_excess(
    rng: np.random.Generator,
    healthy_rate: np.ndarray,
    healthy_errors: np.ndarray,
    requests: np.ndarray,
    fault: FaultPlan,
    present: np.ndarray,
) -> np.ndarray:
    """Errors a fault adds to (or removes from) the healthy canary's, by thinning.

    With healthy count ``X1 ~ Bin(n, p)`` and faulty rate ``p' >= p`` the fault adds
    ``Bin(n - X1, (p' - p) / (1 - p))``; with ``p' < p`` it removes
    ``Bin(X1, (p - p') / p)``: the total is ``Bin(n, p')`` exactly.

    Returns
    -------
    ndarray of int64, the broadcast shape of the inputs
    """
    extra = faulty_error_rate(healthy_rate, fault, present) - healthy_rate
    adding = extra >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = np.where(adding, extra / (1.0 - healthy_rate), -extra / healthy_rate)
    prob = np.clip(np.nan_to_num(prob, nan=0.0), 0.0, 1.0)
    trials = np.where(adding, requests - healthy_errors, healthy_errors)
    changed = rng.binomial(trials, prob)
    return np.where(adding, changed, -changed)


def draw_latency_z(
    rng: np.random.Generator,
    requests: np.ndarray,
    quantile: Fraction | None,
    size: tuple[int, ...],
) -> np.ndarray:
    """Standardised latency metric of one side, shape ``size``; NaN where no requests.

    For the mean a standard normal; for a sample quantile ``Phi^{-1}(U_(k))`` with
    ``U_(k) = G_k / (G_k + G_{n+1-k}) ~ Beta(k, n + 1 - k)`` the ``k = ceil(q n)``-th
    smallest of ``n`` uniforms (exact), the upper tail ``1 - U_(k)`` computed directly
    for precision near 1.

    Parameters
    ----------
    requests : ndarray of int64
        Broadcastable to ``size``: ``(n_steps, 1)`` for a step-major block, ``(n,)``
        for one step with per-rollout traffic.
    """
    if quantile is None:
        z = rng.standard_normal(size)
    else:
        n = np.maximum(requests, 1)
        k = -((-quantile.numerator * n) // quantile.denominator)
        g_low = rng.standard_gamma(np.broadcast_to(k.astype(np.float64), size))
        g_high = rng.standard_gamma(np.broadcast_to((n + 1 - k).astype(np.float64), size))
        total = g_low + g_high
        low = g_low / total
        z = np.where(low < 0.5, normal_quantile(low), -normal_quantile(g_high / total))
    return np.where(np.broadcast_to(requests == 0, size), np.nan, z)


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
    extra_latency_ms : dict of str to (ndarray, ndarray)
        Per extra latency statistic, the canary's and the baseline's, like the above.
    gauges : dict of str to (ndarray, ndarray)
        Per checked gauge, the canary's and the baseline's measurement.
    """

    canary_errors: np.ndarray
    canary_requests: np.ndarray
    baseline_errors: np.ndarray
    baseline_requests: np.ndarray
    canary_latency_ms: np.ndarray
    baseline_latency_ms: np.ndarray
    excess_errors: np.ndarray
    extra_latency_ms: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    gauges: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def latency(self, stat: str, default_stat: str) -> tuple[np.ndarray, np.ndarray]:
        """The canary's and the baseline's latency statistic ``stat`` (ms)."""
        if stat == default_stat:
            return self.canary_latency_ms, self.baseline_latency_ms
        return self.extra_latency_ms[stat]

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
    canary_latency, baseline_latency = latency_pair(
        draws.canary_latency_z, draws.baseline_latency_z, cn, bn, world, fault, present
    )
    extra = {
        stat: tuple(
            np.broadcast_to(x, shape)
            for x in latency_pair(cz, bz, cn, bn, world.with_stat(stat), fault, present)
        )
        for stat, (cz, bz) in draws.extra_latency_z.items()
    }
    gauges = {}
    for name, mean, sd in world.gauges:
        cz, bz = draws.gauge_z[name]
        canary = mean + sd * cz
        if name in fault.gauge_delta:
            canary = canary + np.where(present, fault.gauge_effect(name, mean), 0.0)
        gauges[name] = (canary, mean + sd * bz)
    return CountsObservations(
        canary_errors=draws.healthy_canary_errors + excess_errors,
        canary_requests=np.broadcast_to(cn, shape),
        baseline_errors=draws.baseline_errors,
        baseline_requests=np.broadcast_to(bn, shape),
        canary_latency_ms=np.broadcast_to(canary_latency, shape),
        baseline_latency_ms=baseline_latency,
        excess_errors=excess_errors,
        extra_latency_ms=extra,
        gauges=gauges,
    )


def latency_pair(
    canary_z: np.ndarray,
    baseline_z: np.ndarray,
    canary_requests: np.ndarray,
    baseline_requests: np.ndarray,
    world: CountsWorldPlan,
    fault: FaultPlan,
    present: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The canary's and the baseline's latency metric (ms) from standardised draws.

    A present fault multiplies the canary's metric by ``latency_factor`` and adds
    ``latency_delta_ms`` (clamped at 0); a tail-only fault instead widens the log-sd of
    one request's latency so that its p99 moves that way (the median does not).
    """
    m, sigma = world.latency_ms, world.latency_log_sigma
    cn, bn = canary_requests, baseline_requests
    baseline_latency = latency_metric(baseline_z, bn, m, sigma, world.quantile)
    if fault.tail_only:
        p99 = m * math.exp(sigma * Z99)
        target = fault.latency_factor * p99 + fault.latency_delta_ms
        with np.errstate(divide="ignore", invalid="ignore"):
            widened = np.log(target / m) / Z99
        widened = np.maximum(np.nan_to_num(widened, nan=0.0, neginf=0.0), 0.0)
        canary_sigma = np.where(present, widened, sigma)
        canary_latency = latency_metric(canary_z, cn, m, canary_sigma, world.quantile)
    else:
        factor = np.where(present, fault.latency_factor, 1.0)
        delta = np.where(present, fault.latency_delta_ms, 0.0)
        canary_latency = np.maximum(
            factor * latency_metric(canary_z, cn, m, sigma, world.quantile) + delta, 0.0
        )
    return canary_latency, baseline_latency


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
    ``(e_c n_b - e_b n_c) Q > P n_c n_b``, in integers (:func:`fraction_beyond`): no
    rounding can decide a tie such as ``5/100 - 57/1900 = 0.02``. Steps with a zero
    request count give False (they have no data; see :attr:`CountsObservations.no_data`).

    Parameters
    ----------
    canary_errors, canary_requests, baseline_errors, baseline_requests : ndarray of int64
        Shape ``(n_rollouts, n_steps)``.
    threshold : sequence of Fraction, length n_steps

    Returns
    -------
    ndarray of bool, shape (n_rollouts, n_steps)
    """
    dtype = _wide(canary_requests, baseline_requests, 1)
    ce, cn, be, bn = (
        x.astype(dtype)
        for x in (canary_errors, canary_requests, baseline_errors, baseline_requests)
    )
    has = (canary_requests > 0) & (baseline_requests > 0)
    top = _top(canary_requests, baseline_requests, 1)
    return fraction_beyond(ce * bn - be * cn, cn * bn, threshold, above=True, top=top) & has


def _top(canary_requests: np.ndarray, baseline_requests: np.ndarray, unit: int) -> int:
    """A bound on every rate fraction's ``|num|`` and ``den``: ``unit n_c n_b`` at most."""
    most = max(int(canary_requests.max(initial=0)), 1) * max(
        int(baseline_requests.max(initial=0)), 1
    )
    return most * max(unit, 1)


def _wide(canary_requests: np.ndarray, baseline_requests: np.ndarray, unit: int) -> type:
    """The integer dtype products of request counts fit in: int64, else Python ints."""
    return np.int64 if _top(canary_requests, baseline_requests, unit) < _INT64_SAFE else object


def fraction_beyond(
    num: np.ndarray,
    den: np.ndarray,
    limits: Sequence[Fraction | None],
    *,
    above: bool,
    top: int,
    zero_den: bool = False,
) -> np.ndarray:
    """Is ``num / den`` strictly above (or below) each step's limit ``P / Q``, exactly?

    ``num / den > P / Q`` is ``num Q > P den`` for ``den > 0``. With ``zero_den`` (a
    ratio over a zero baseline), ``0 / 0`` is 1 (no change) and ``x / 0`` with ``x > 0``
    is ``+inf``; otherwise a zero ``den`` only occurs where there is no data, which the
    caller masks. Columns whose products could overflow int64 are compared with Python
    integers. A step whose limit is ``None`` never fails.

    Parameters
    ----------
    num, den : ndarray of int64 (or object), broadcastable to (n_rollouts, n_steps)
        ``den >= 0``.
    limits : sequence of Fraction or None, length n_steps
    above : bool
        Compare ``>`` (a ``max``) or ``<`` (a ``min``).
    top : int
        A bound on ``|num|`` and ``den`` (from the request counts), for the overflow check.

    Returns
    -------
    ndarray of bool, shape (n_rollouts, n_steps)
    """
    out = np.zeros(np.broadcast(num, den).shape, dtype=bool)
    steps = [j for j, limit in enumerate(limits) if limit is not None]
    if not steps or out.size == 0:
        return out
    num = np.broadcast_to(num, out.shape)
    den = np.broadcast_to(den, out.shape)
    safe = np.array(
        [
            (top + 1) * limits[j].denominator < _INT64_SAFE
            and (abs(limits[j].numerator) + 1) * (top + 1) < _INT64_SAFE
            for j in steps
        ],
        dtype=bool,
    )
    cols = np.array(steps)
    for is_safe in (True, False):
        c = cols[safe == is_safe]
        if not c.size:
            continue
        dtype = np.int64 if is_safe else object
        p = np.array([limits[j].numerator for j in c], dtype=dtype)
        q = np.array([limits[j].denominator for j in c], dtype=dtype)
        whole = c.size == out.shape[1]
        n_, d_ = (num, den) if whole else (num[:, c], den[:, c])
        if not is_safe:
            n_, d_ = n_.astype(object), d_.astype(object)
        lhs, rhs = n_ * q, p * d_
        beyond = (lhs > rhs) if above else (lhs < rhs)
        if zero_den:
            zero = d_ == 0
            one = (q > p) if above else (q < p)
            beyond = np.where(zero, np.where(n_ > 0, above, one), beyond)
        if whole:
            out[...] = beyond
        else:
            out[:, c] = beyond
    return out


def metric_fails_counts(
    obs: CountsObservations, limits: MetricLimits, world: CountsWorldPlan
) -> tuple[np.ndarray, np.ndarray]:
    """Does a metric's check fail at each step, on counts? And where has it data?

    Rates are compared exactly (:func:`fraction_beyond`) in the metric's unit:
    ``absolute`` the canary's ``errors / requests`` (a success rate ``1 -`` that),
    ``delta`` minus the baseline's, ``ratio`` over it. Latency statistics and gauges
    are continuous and compared in floating point. A metric has data where the canary
    served requests and, for ``delta`` and ``ratio``, the baseline too (a gauge's canary
    always reports; its baseline does where the baseline serves traffic).

    Returns
    -------
    fails, has_data : ndarray of bool, shape (n_rollouts, n_steps)
        ``fails`` is False where there is no data.
    """
    check = limits.check
    cn, bn = obs.canary_requests, obs.baseline_requests
    # On the fixed schedule every rollout serves the same requests (broadcast views):
    # where there is data is then a per-step vector.
    shared = cn.ndim == 2 and cn.strides[0] == 0 and bn.strides[0] == 0
    n_c, n_b = (cn[0], bn[0]) if shared else (cn, bn)
    if check.kind == "gauge":
        has = (n_b > 0) if check.needs_baseline else np.ones(n_c.shape, dtype=bool)
    else:
        has = (n_c > 0) & (n_b > 0) if check.needs_baseline else n_c > 0
    if check.signal == "rate":
        num, den = rate_fraction(obs, check)
        top = _top(cn, bn, int(check.unit))
        ratio = check.compare == "ratio"
        fails = fraction_beyond(num, den, limits.max_exact, above=True, top=top, zero_den=ratio)
        if limits.has_min:
            fails |= fraction_beyond(
                num, den, limits.min_exact, above=False, top=top, zero_den=ratio
            )
    else:
        if check.signal == "latency":
            canary, baseline = obs.latency(world.stat_of(check), world.default_stat)
        else:
            canary, baseline = obs.gauges[check.name]
        fails = limits.fails(compare_values(canary, baseline, check.compare))
    fails &= has
    return fails, np.broadcast_to(has, fails.shape)


def compare_values(canary: np.ndarray, baseline: np.ndarray, compare: str) -> np.ndarray:
    """A continuous metric's compared value: the canary's, minus or over the baseline's
    (a ratio ``0 / 0`` is 1)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if compare == "absolute":
            return canary
        if compare == "delta":
            return canary - baseline
        ratio = canary / baseline
    return np.where(np.isnan(ratio) & ~np.isnan(canary) & ~np.isnan(baseline), 1.0, ratio)


def rate_fraction(obs: CountsObservations, check: MetricCheck) -> tuple[np.ndarray, np.ndarray]:
    """A rate metric's compared value as ``num / den`` of integer arrays (unit applied)."""
    dtype = _wide(obs.canary_requests, obs.baseline_requests, int(check.unit))
    ce, cn = np.asarray(obs.canary_errors, dtype), np.asarray(obs.canary_requests, dtype)
    be, bn = np.asarray(obs.baseline_errors, dtype), np.asarray(obs.baseline_requests, dtype)
    unit = int(check.unit)
    success = check.kind == "success_rate"
    if check.compare == "absolute":
        return unit * ((cn - ce) if success else ce), cn
    if check.compare == "delta":
        diff = ce * bn - be * cn
        return unit * (-diff if success else diff), cn * bn
    if success:
        return (cn - ce) * bn, (bn - be) * cn
    return ce * bn, be * cn


def decide_counts_threshold(
    observations: CountsObservations, world: CountsWorldPlan, policy: PolicyPlan
) -> Outcomes:
    """The threshold rule on counts: roll back at the first step where a check fails.

    Rates are compared exactly, latency and gauges in floating point
    (:func:`metric_fails_counts`; ``>`` and ``<`` are strict). A step where some metric
    has no data decides as ``policy.no_data`` says: ``fail`` rolls back (reason
    ``no_data``), ``pass`` and ``hold`` go on.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    fails, no_data = counts_fails(observations, world, policy)
    return first_coded_failure(metric_codes(fails, no_data), policy)


def counts_fails(
    observations: CountsObservations, world: CountsWorldPlan, policy: PolicyPlan
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Every metric's failed checks, and the steps that roll back for want of data
    (``policy.no_data: fail``; ``None`` otherwise)."""
    fails, no_data = [], None
    for limits in policy.metrics:
        failed, has = metric_fails_counts(observations, limits, world)
        fails.append(failed)
        if policy.no_data == "fail":
            no_data = ~has if no_data is None else (no_data | ~has)
    return fails, no_data


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
