"""The search: the best knob setting whose false-alarm rate is within a budget.

Every candidate setting runs on the same rollouts (the same seed and blocks: common
random numbers), so the false-alarm rate is a monotone step function of a threshold-like
knob, and two candidates' detection rates differ only by what the setting changes.
Candidates that differ only in nested error thresholds are evaluated together on one
simulation (shared paths, :mod:`canary_mc.engine.fastpath.shared`).

One continuous knob
    The knob is oriented so that larger search coordinates are looser (more false alarms,
    more detection). Grids of :data:`GRID_POINTS` candidates, refined
    :data:`ROUNDS` times, locate two crossings on the healthy scenario: the loosest value
    whose false-alarm rate's **upper** 95% bound is at most the budget (the chosen value,
    the most detection a budget-respecting setting allows), and the loosest value whose
    **lower** bound is at most the budget. Between them lies every value whose interval
    contains the budget: with 95% confidence at each value, the knob value at which the
    true rate equals the budget is in that interval (the knob's own uncertainty).
Discrete knobs
    Every value (and every combination) is evaluated; with a continuous knob too, the
    continuous knob is tuned at each discrete value.
Several continuous knobs
    See :func:`tune_several`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from canary_mc.engine.core.streams import content_key
from canary_mc.engine.fastpath.shared import shared_key, tally_threshold_settings
from canary_mc.engine.simulate import estimate_experiment, simulate_outcomes, tally_experiment
from canary_mc.errors import ConfigError
from canary_mc.model import Experiment
from canary_mc.stats.estimate import ExperimentEstimate, Rate
from canary_mc.stats.intervals import CONFIDENCE
from canary_mc.stats.tally import Tally
from canary_mc.tune.knobs import Knob
from canary_mc.tune.pick import Option, pick_setting

GRID_POINTS = 9
"""Candidates per grid (both ends included) when each candidate is its own simulation."""

ROUNDS = 4
"""Grid refinements: the bracket shrinks by ``GRID_POINTS - 1`` each round."""

SHARED_GRID_POINTS = 97
"""Candidates per grid on shared paths, where a candidate costs almost nothing."""

SHARED_ROUNDS = 2
"""Grid refinements on shared paths (a bracket of 1/96^2 of the range)."""

HINT_DENSITY = 8
"""Around an earlier look's crossings, a grid this many times denser goes in the first
shared-path batch, so that one pass usually settles both crossings."""

CONFIRMATION_STREAM = "tune/confirmation/v1"
"""Names the rollouts on which a several-knob result is confirmed (independent of the
rollouts the search selected on, so the reported rates carry no selection bias)."""

MAX_COMBINATIONS = 256
"""Most discrete combinations ``tune`` enumerates."""


def derived_seed(seed: int, stream: str) -> int:
    """A seed for a named purpose, derived from ``seed`` by content (never ``seed + i``)."""
    words = np.random.SeedSequence(seed, spawn_key=content_key(stream)).generate_state(2)
    return int(words[0]) << 31 | int(words[1]) >> 1


Values = dict[str, float]


class Evaluator:
    """Tallies of the experiment with knob values set, all on the same rollouts.

    Parameters
    ----------
    build : callable
        ``values -> Experiment``: the file with each knob path set (validated).
    rollouts, seed : int
        Rollouts per evaluation and the seed (the same for every candidate).
    """

    def __init__(
        self,
        build: Callable[[Values], Experiment],
        *,
        rollouts: int,
        seed: int,
        confidence: float = CONFIDENCE,
    ):
        self.build = build
        self.rollouts = rollouts
        self.seed = seed
        self.confidence = confidence
        self.evaluations = 0
        self._estimates: dict[tuple, ExperimentEstimate] = {}

    def experiment(self, values: Values, *, healthy_only: bool = False) -> Experiment:
        experiment = self.build(values).model_copy(
            update={"rollouts": self.rollouts, "seed": self.seed}
        )
        if not healthy_only:
            return experiment
        healthy = experiment.healthy_scenario
        kept = {k: v for k, v in experiment.scenarios.items() if k == healthy}
        return experiment.model_copy(update={"scenarios": kept})

    def tallies(
        self, candidates: Sequence[Values], *, healthy_only: bool
    ) -> list[dict[str, Tally]]:
        """Every candidate's tallies, on shared paths when they allow it."""
        experiments = [self.experiment(v, healthy_only=healthy_only) for v in candidates]
        self.evaluations += len(experiments)
        keys = {shared_key(e) for e in experiments}
        if len(experiments) > 1 and None not in keys and len(keys) == 1:
            shared = tally_threshold_settings(experiments)
            if shared is not None:
                return shared
        return [tally_experiment(e) for e in experiments]

    def shares_paths(self, candidates: Sequence[Values]) -> bool:
        """Whether these settings are decided together on shared paths."""
        keys = {shared_key(self.experiment(v, healthy_only=True)) for v in candidates}
        return None not in keys and len(keys) == 1

    def false_alarms(self, candidates: Sequence[Values]) -> list[Rate]:
        out = []
        for tallies in self.tallies(candidates, healthy_only=True):
            tally = next(iter(tallies.values()))
            out.append(Rate.of(tally.rollbacks, tally.n_rollouts, self.confidence))
        return out

    def estimate(self, values: Values) -> ExperimentEstimate:
        """Every scenario's estimate of one setting (kept: asked again, not re-run)."""
        key = tuple(sorted(values.items()))
        if key not in self._estimates:
            experiment = self.experiment(values)
            tallies = self.tallies([values], healthy_only=False)[0]
            self._estimates[key] = estimate_experiment(
                experiment, tallies, confidence=self.confidence
            )
        return self._estimates[key]

    def sibling(self, build: Callable[[Values], Experiment], seed: int | None = None) -> Evaluator:
        """An evaluator of another family of settings on the same rollouts and level."""
        return Evaluator(
            build,
            rollouts=self.rollouts,
            seed=self.seed if seed is None else seed,
            confidence=self.confidence,
        )


@dataclass(frozen=True)
class Objective:
    """What ``tune`` maximises: one scenario, or a weighted mean of regression scenarios.

    Attributes
    ----------
    weights : dict of str to float
        Scenario name to weight (summing to 1).
    label : str
        As given on the command line (``mean``, a scenario name, or ``a:0.7,b:0.3``).
    """

    weights: dict[str, float]
    label: str

    def of(self, estimate: ExperimentEstimate) -> float:
        rates = {s.scenario: s.rollback.rate for s in estimate.scenarios}
        return sum(w * rates[name] for name, w in self.weights.items())


def parse_objective(spec: str, experiment: Experiment) -> Objective:
    """``mean`` (every regression scenario alike), a scenario, or ``name:weight,...``."""
    regressions = [n for n, s in experiment.evaluated_scenarios.items() if not s.healthy]
    if not regressions:
        raise ConfigError("tune needs at least one regression scenario to maximise detection")
    if spec == "mean":
        return Objective({n: 1 / len(regressions) for n in regressions}, spec)
    weights: dict[str, float] = {}
    for part in spec.split(","):
        name, _, weight = part.partition(":")
        if name not in regressions:
            known = ", ".join(regressions)
            raise ConfigError(
                f"--maximize: {name!r} is not a regression scenario of the file ({known})"
            )
        try:
            weights[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(
                f"--maximize: weight of {name!r} must be a number, got {weight!r}"
            ) from None
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ConfigError(f"--maximize: weights must be >= 0 and not all 0, got {spec!r}")
    return Objective({n: w / total for n, w in weights.items()}, spec)


@dataclass(frozen=True)
class Crossing:
    """Where one continuous knob meets the budget (values in the knob's own units).

    Attributes
    ----------
    value : float or None
        The chosen value: the loosest whose false-alarm upper bound is within budget;
        ``None`` when even the strictest end of the range is over budget.
    interval : (float, float) or None
        The values whose 95% false-alarm interval contains the budget.
    edge : str or None
        ``"loose"`` when the budget is met at the loosest end of the range (extend it
        that way), ``"strict"`` when it is not met even at the strictest end.
    false_alarm : Rate or None
        At ``value``.
    curve : list of (float, Rate)
        Every candidate evaluated, sorted by value.
    """

    value: float | None
    interval: tuple[float, float] | None
    edge: str | None
    false_alarm: Rate | None
    curve: list[tuple[float, Rate]] = field(repr=False)


def find_crossing(
    evaluator: Evaluator,
    knob: Knob,
    budget: float,
    fixed: Values | None = None,
    hint: tuple[float, float] | None = None,
) -> Crossing:
    """Tune one continuous knob to the budget (module docstring), others at ``fixed``.

    ``hint``: knob values where the crossings were found on fewer rollouts (an earlier
    look of an adaptive run); a fine grid around them goes into the first batch, so on
    shared paths one pass usually settles both crossings. The result does not depend on
    the hint beyond which grid points were evaluated (the refinement goes on until the
    brackets are as fine as without it).
    """
    fixed = dict(fixed or {})
    memo: dict[float, Rate] = {}

    def rates(ts: Sequence[float]) -> list[Rate]:
        todo = [t for t in ts if t not in memo]
        if todo:
            found = evaluator.false_alarms([{**fixed, knob.path: knob.from_t(t)} for t in todo])
            memo.update(zip(todo, found, strict=True))
        return [memo[t] for t in ts]

    a, b = knob.to_t(knob.lo), knob.to_t(knob.hi)
    shared = evaluator.shares_paths([{**fixed, knob.path: knob.from_t(t)} for t in (a, b)])
    points, rounds = (SHARED_GRID_POINTS, SHARED_ROUNDS) if shared else (GRID_POINTS, ROUNDS)
    resolution = abs(b - a) / (points - 1) ** rounds
    first = [a, b]
    if hint is not None and shared:
        h0, h1 = sorted(knob.to_t(v) for v in hint)
        margin = max(h1 - h0, 0.005 * abs(b - a))
        lo_w, hi_w = max(min(a, b), h0 - margin), min(max(a, b), h1 + margin)
        # Settings on shared paths cost little next to a pass: one dense batch.
        dense = HINT_DENSITY * (points - 1) + 1
        first += [lo_w + (hi_w - lo_w) * i / (dense - 1) for i in range(dense)]
    ends = rates(first)[:2]
    # Orient: "loose" is the end with more false alarms (ties: larger values looser).
    loose_is_b = ends[1].rate >= ends[0].rate
    loose_t = b if loose_is_b else a

    def bracket(ok: Callable[[Rate], bool]) -> tuple[float, float] | None:
        """Loosest evaluated point that is ok and the next looser one (the same point
        when the loosest is ok); ``None`` when even the strictest is not ok. On common
        random numbers the rate is monotone, so "ok" is a prefix of the points."""
        ts = sorted(memo, key=lambda t: t if loose_is_b else -t)
        if not ok(memo[ts[0]]):
            return None
        i = max(j for j, t in enumerate(ts) if ok(memo[t]))
        return ts[i], ts[min(i + 1, len(ts) - 1)]

    def upper_ok(r: Rate) -> bool:
        return r.hi <= budget

    def lower_ok(r: Rate) -> bool:
        return r.lo <= budget

    for _ in range(rounds + 1):
        upper, lower = bracket(upper_ok), bracket(lower_ok)
        if upper is None or upper[0] == upper[1] == loose_t:
            break
        # Refine the span of both crossings at once (one batch: one shared-path pass),
        # until both brackets are as fine as the rounds make them from the whole range.
        start, stop = upper[0], (lower or upper)[1]
        widths = [abs(x[1] - x[0]) for x in (upper, lower) if x is not None]
        # Finer than a tenth of the knob's own uncertainty adds nothing.
        if start == stop or max(widths) <= max(2 * resolution, 0.1 * abs(stop - start)):
            break
        rates([start + (stop - start) * i / (points - 1) for i in range(points)])
    upper, lower = bracket(upper_ok), bracket(lower_ok)
    curve = sorted((knob.from_t(t), r) for t, r in memo.items())
    if upper is None:
        return Crossing(None, None, "strict", None, curve)
    chosen_t = upper[0]
    lower_t = (lower or upper)[1]
    edge = "loose" if chosen_t == loose_t else None
    ends_t = sorted((knob.from_t(chosen_t), knob.from_t(lower_t)))
    return Crossing(knob.from_t(chosen_t), (ends_t[0], ends_t[1]), edge, memo[chosen_t], curve)


@dataclass(frozen=True)
class Candidate:
    """One evaluated setting: the knob values and every scenario's estimate."""

    values: Values
    estimate: ExperimentEstimate
    objective: float
    crossing: Crossing | None = None


@dataclass(frozen=True)
class Suggestion:
    """A change outside the knobs that would (or would not) meet the budget."""

    change: str
    false_alarm: Rate
    meets: bool


@dataclass(frozen=True)
class TuneResult:
    """What ``tune`` found.

    Attributes
    ----------
    best : Candidate or None
        The chosen setting; ``None`` when no setting meets the budget.
    candidates : list of Candidate
        Every setting evaluated on all scenarios (the trade-off curve).
    single_scale : Candidate or None
        Several knobs: the best setting with every knob scaled by one common factor.
    improvement : (float, float, float) or None
        Several knobs: objective of ``best`` minus ``single_scale`` on fresh confirmation
        rollouts (paired), with its 95% interval.
    suggestions : list of Suggestion
        When the budget cannot be met: what would meet it.
    evaluations : int
        Settings simulated (healthy-only evaluations included).
    """

    budget: float
    knobs: tuple[Knob, ...]
    objective: Objective
    rollouts: int
    seed: int
    best: Candidate | None
    candidates: list[Candidate]
    single_scale: Candidate | None = None
    improvement: tuple[float, float, float] | None = None
    suggestions: list[Suggestion] = field(default_factory=list)
    evaluations: int = 0
    notes: list[str] = field(default_factory=list)


def tune(
    *,
    build: Callable[[Values], Experiment],
    knobs: Sequence[Knob],
    current: Values,
    budget: float,
    objective: Objective,
    rollouts: int,
    seed: int,
    curve_points: int = 12,
    confidence: float = CONFIDENCE,
    hint: tuple[float, float] | None = None,
    evaluator: Evaluator | None = None,
) -> TuneResult:
    """Tune ``knobs`` so the false-alarm upper 95% bound is within ``budget`` and the
    detection objective is highest.

    Parameters
    ----------
    build : callable
        ``values -> Experiment`` (the file with each knob path set, validated).
    knobs : sequence of Knob
    current : dict
        Each knob's value in the file (the start of a several-knob search).
    budget : float
        False-alarm budget, a fraction in (0, 1).
    objective : Objective
    rollouts, seed : int
        Rollouts per evaluation; every candidate uses the same ones.
    curve_points : int
        Settings of the trade-off curve evaluated on every scenario (one continuous knob).
    confidence : float
        Level of every interval (0.95; wider under adaptive precision).
    hint : (float, float), optional
        One continuous knob: its interval from an earlier look (:func:`find_crossing`).
    evaluator : Evaluator, optional
        One already holding estimates on these rollouts (an adaptive run's probe).

    Returns
    -------
    TuneResult
    """
    if not 0 < budget < 1:
        raise ConfigError(f"--false-alarm must be a fraction in (0, 1), got {budget:g}")
    if evaluator is None:
        evaluator = Evaluator(build, rollouts=rollouts, seed=seed, confidence=confidence)
    discrete = [k for k in knobs if k.discrete]
    continuous = [k for k in knobs if not k.discrete]
    combos: list[Values] = [{}]
    for knob in discrete:
        combos = [{**c, knob.path: v} for c in combos for v in knob.values()]
    if len(combos) > MAX_COMBINATIONS:
        raise ConfigError(
            f"the discrete knobs make {len(combos):,} combinations; at most "
            f"{MAX_COMBINATIONS} are searched exactly: narrow their ranges (PATH=LO:HI)"
        )
    if len(continuous) > 1:
        if discrete:
            raise ConfigError("several continuous knobs cannot be combined with discrete ones")
        return tune_several(evaluator, continuous, current, budget, objective)
    candidates: list[Candidate] = []
    crossings: list[tuple[Values, Crossing]] = []
    notes: list[str] = []
    for combo in combos:
        if not continuous:
            estimate = evaluator.estimate(combo)
            candidates.append(Candidate(combo, estimate, objective.of(estimate)))
            continue
        crossing = find_crossing(evaluator, continuous[0], budget, combo, hint=hint)
        crossings.append((combo, crossing))
        if crossing.value is None:
            continue
        values = {**combo, continuous[0].path: crossing.value}
        estimate = evaluator.estimate(values)
        candidates.append(Candidate(values, estimate, objective.of(estimate), crossing))
        if crossing.edge == "loose":
            notes.append(
                f"{continuous[0].path}: the budget is met at the loosest end of the range "
                f"({crossing.value:g}); extend the range that way (PATH=LO:HI)"
            )
    best = _pick(candidates, budget, objective)
    if continuous and best is not None and best.crossing is not None and curve_points > 1:
        candidates = _curve(evaluator, continuous[0], best, objective, curve_points) + [
            c for c in candidates if c is not best
        ]
    suggestions = []
    if best is None:
        tried = [(c.estimate.false_alarm.rate, c.values) for c in candidates]
        tried += [
            (rate.rate, {**combo, continuous[0].path: value})
            for combo, crossing in crossings
            for value, rate in crossing.curve
        ]
        strictest = min(tried, key=lambda pair: pair[0])[1] if tried else {}
        suggestions = suggest(evaluator, strictest, budget)
    return TuneResult(
        budget=budget,
        knobs=tuple(knobs),
        objective=objective,
        rollouts=rollouts,
        seed=seed,
        best=best,
        candidates=candidates,
        suggestions=suggestions,
        evaluations=evaluator.evaluations,
        notes=notes,
    )


def _pick(candidates: list[Candidate], budget: float, objective: Objective) -> Candidate | None:
    """The best candidate within budget, by the rule the sweep report shares
    (:func:`canary_mc.tune.pick.pick_setting` with the objective's weights)."""
    if not candidates:
        return None
    options = [
        Option(
            str(i),
            c.estimate.false_alarm.rate,
            c.estimate.false_alarm.lo,
            c.estimate.false_alarm.hi,
            {
                s.scenario: (s.rollback.rate, s.rollback.lo, s.rollback.hi)
                for s in c.estimate.scenarios
            },
        )
        for i, c in enumerate(candidates)
    ]
    pick = pick_setting(options, budget=budget, weights=objective.weights)
    return None if pick.chosen is None else candidates[int(pick.chosen.label)]


def _curve(
    evaluator: Evaluator, knob: Knob, best: Candidate, objective: Objective, points: int
) -> list[Candidate]:
    """The trade-off curve: settings spread over the searched range, every scenario,
    plus the chosen one (first)."""
    assert best.crossing is not None
    fixed = {k: v for k, v in best.values.items() if k != knob.path}
    a, b = knob.to_t(knob.lo), knob.to_t(knob.hi)
    ts = [a + (b - a) * i / (points - 1) for i in range(points)] if points > 1 else []
    settings = [{**fixed, knob.path: knob.from_t(t)} for t in ts]
    experiments = [evaluator.experiment(v) for v in settings]
    tallies = evaluator.tallies(settings, healthy_only=False) if settings else []
    out = [best]
    for values, experiment, tally in zip(settings, experiments, tallies, strict=True):
        estimate = estimate_experiment(experiment, tally, confidence=evaluator.confidence)
        out.append(Candidate(values, estimate, objective.of(estimate)))
    return out


def _longer_bake(experiment: Experiment) -> Experiment | None:
    stages = [
        {**s.model_dump(exclude_unset=True), "duration_steps": 2 * s.duration_steps}
        for s in experiment.policy.stages
    ]
    for stage in stages:
        stage.pop("duration", None)
    return _revalidate(experiment, {"stages": stages})


def _more_traffic(experiment: Experiment) -> Experiment | None:
    if experiment.noise.model != "counts":
        return None
    service = experiment.service.model_dump(exclude_unset=True)
    service["requests_per_step"] = 4 * experiment.service.requests_per_step
    service.pop("requests_per_second", None)
    try:
        return Experiment.model_validate(
            {**experiment.model_dump(exclude_unset=True), "service": service}
        )
    except ValueError:
        return None


def _revalidate(experiment: Experiment, policy_update: dict[str, Any]) -> Experiment | None:
    try:
        policy = {**experiment.policy.model_dump(exclude_unset=True), **policy_update}
        document = experiment.model_dump(exclude_unset=True)
        return Experiment.model_validate({**document, "policy": policy})
    except ValueError:
        return None


def suggest(evaluator: Evaluator, strictest: Values, budget: float) -> list[Suggestion]:
    """When no setting meets the budget: the strictest setting searched (lowest false
    alarms) with twice the bake time, four times the traffic (counts model), or the
    mSPRT at level budget/2 (Ville's bound keeps its false-alarm rate below its level),
    each on the same rollouts."""
    base = evaluator.experiment(strictest, healthy_only=True)
    changes = [
        ("twice the bake time (every stage's duration_steps x 2)", _longer_bake(base)),
        ("four times the traffic (service.requests_per_step x 4)", _more_traffic(base)),
    ]
    if base.policy.rule.kind != "msprt":
        changes.append(
            (
                f"rule msprt at alpha {budget / 2:g} (always-valid: at most alpha by Ville)",
                _revalidate(base, {"rule": {"kind": "msprt", "alpha": budget / 2}}),
            )
        )
    out = []
    for change, experiment in changes:
        if experiment is None:
            continue
        evaluator.evaluations += 1
        tally = next(iter(tally_experiment(experiment).values()))
        rate = Rate.of(tally.rollbacks, tally.n_rollouts, evaluator.confidence)
        out.append(Suggestion(change, rate, rate.hi <= budget))
    return out


def tune_several(
    evaluator: Evaluator,
    knobs: Sequence[Knob],
    current: Values,
    budget: float,
    objective: Objective,
) -> TuneResult:
    """Several continuous knobs (a limit per stage or per metric).

    The knobs move as ``value_i = current_i * exp(s + d_i)``: ``s`` a common scale,
    always tuned to the budget (:func:`find_crossing` on ``s``, so every candidate
    spends the whole budget), ``d_i`` each knob's log-offset from the common scale.
    ``d = 0`` is the best single-scale setting. A coordinate search moves one ``d_i``
    by ``+-step`` at a time and keeps a move only when the objective rises by more
    than the noise of a paired comparison on the same rollouts (two standard errors
    of the difference, estimated from per-rollout outcomes); without a kept move the
    step halves, down to :data:`MIN_STEP`.

    The winner and the single-scale setting are then run again on **fresh** rollouts
    (stream :data:`CONFIRMATION_STREAM`, so the reported numbers carry no selection
    bias), both on the same fresh rollouts, and the improvement is reported with a
    paired 95% interval.
    """
    for knob in knobs:
        value = current.get(knob.path)
        if not isinstance(value, int | float) or value <= 0 or knob.scale != "log":
            raise ConfigError(
                f"--knob {knob.path}: several knobs are searched as positive limits scaled "
                f"from their values in the file, got {value!r}"
            )
    n = len(knobs)
    scale_knob = Knob("__scale__", 1 / 16, 16.0, "log")

    def build_with(offsets: np.ndarray) -> Callable[[Values], Experiment]:
        def build(values: Values) -> Experiment:
            s = values["__scale__"]
            return evaluator.build(
                {
                    k.path: float(f"{current[k.path] * s * math.exp(d):.6g}")
                    for k, d in zip(knobs, offsets, strict=True)
                }
            )

        return build

    def at(offsets: np.ndarray) -> Candidate | None:
        inner = evaluator.sibling(build_with(offsets))
        crossing = find_crossing(inner, scale_knob, budget)
        evaluator.evaluations += inner.evaluations
        if crossing.value is None:
            return None
        values = {
            k.path: float(f"{current[k.path] * crossing.value * math.exp(d):.6g}")
            for k, d in zip(knobs, offsets, strict=True)
        }
        estimate = evaluator.estimate(values)
        return Candidate(values, estimate, objective.of(estimate), crossing)

    single = at(np.zeros(n))
    if single is None:
        return TuneResult(
            budget,
            tuple(knobs),
            objective,
            evaluator.rollouts,
            evaluator.seed,
            None,
            [],
            suggestions=suggest(evaluator, dict(current), budget),
            evaluations=evaluator.evaluations,
        )
    best, offsets, step = single, np.zeros(n), 1.0
    evaluated = [single]
    for _ in range(MAX_PASSES):
        if step < MIN_STEP:
            break
        moved = False
        for i in range(n):
            for sign in (1.0, -1.0):
                trial = offsets.copy()
                trial[i] += sign * step
                candidate = at(trial)
                if candidate is None:
                    continue
                evaluated.append(candidate)
                gain, se = paired_gain(evaluator, candidate.values, best.values, objective)
                if gain > 2 * se and gain > 0:
                    best, offsets, moved = candidate, trial, True
        if not moved:
            step /= 2
    confirm = evaluator.sibling(
        evaluator.build, seed=derived_seed(evaluator.seed, CONFIRMATION_STREAM)
    )
    best_c = _confirmed(confirm, best, objective)
    single_c = _confirmed(confirm, single, objective)
    gain, se = paired_gain(confirm, best.values, single.values, objective)
    evaluator.evaluations += confirm.evaluations
    return TuneResult(
        budget=budget,
        knobs=tuple(knobs),
        objective=objective,
        rollouts=evaluator.rollouts,
        seed=evaluator.seed,
        best=best_c,
        candidates=[best_c, *evaluated[1:]],
        single_scale=single_c,
        improvement=(gain, gain - 1.96 * se, gain + 1.96 * se),
        evaluations=evaluator.evaluations,
        notes=[
            "the chosen and single-scale settings are reported on fresh confirmation "
            f"rollouts (stream {CONFIRMATION_STREAM}), not the ones the search selected on"
        ],
    )


MIN_STEP = 0.125
"""Smallest log-offset step of the several-knob coordinate search (about 13%)."""

MAX_PASSES = 40
"""Most passes over the knobs (a guard: each kept move strictly raises the objective on
the same rollouts, so the search cannot cycle)."""


def _confirmed(evaluator: Evaluator, candidate: Candidate, objective: Objective) -> Candidate:
    estimate = evaluator.estimate(candidate.values)
    return Candidate(candidate.values, estimate, objective.of(estimate), candidate.crossing)


def paired_gain(
    evaluator: Evaluator, a: Values, b: Values, objective: Objective
) -> tuple[float, float]:
    """Objective of ``a`` minus ``b`` on the same rollouts, and its standard error.

    Per rollout ``i``: ``d_i = sum_s w_s (rolled_back_a[s, i] - rolled_back_b[s, i])``
    over the objective's scenarios (rollout ``i`` sees the same draws under both
    settings and in every scenario); the standard error is ``sd(d) / sqrt(n)``.
    """
    diffs = np.zeros(evaluator.rollouts)
    experiments = [evaluator.experiment(values) for values in (a, b)]
    for name, weight in objective.weights.items():
        # Integer differences first: equal settings give exactly zero (no rounding dust).
        rolled = [
            simulate_outcomes(
                policy=e.policy,
                service=e.service,
                noise=e.noise,
                scenario=e.evaluated_scenarios[name],
                n_rollouts=evaluator.rollouts,
                seed=evaluator.seed,
            ).rolled_back.astype(np.int64)
            for e in experiments
        ]
        diffs += weight * (rolled[0] - rolled[1])
    n = diffs.shape[0]
    return float(diffs.mean()), float(diffs.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
