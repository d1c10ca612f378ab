"""The experiment: everything one run needs, as one frozen object."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import Annotated, Any

from pydantic import Field, model_validator

from canary_mc.model._base import Count, Frozen, raise_at
from canary_mc.model.caveats import Caveat, caveat_check
from canary_mc.model.metrics import FAULT_FIELDS, duration_seconds, exact_decimal, signal_of
from canary_mc.model.policy import Policy
from canary_mc.model.sweep import Sweep
from canary_mc.model.world import HEALTHY, Noise, Scenario, Service

HEALTHY_NAME = "healthy"


def onset_stage_problem(ref: str | int, stage_names: Sequence[str]) -> str | None:
    """The rule "onset_stage names a stage": ``None`` if it does, else what is wrong.

    Shared by :class:`Experiment` and the file loader, which applies it to raw input.
    """
    if isinstance(ref, str) and ref in stage_names:
        return None
    if isinstance(ref, int) and 0 <= ref < len(stage_names):
        return None
    known = ", ".join(repr(n) for n in stage_names)
    return (
        f"must name a stage ({known}) or be a 0-based index below {len(stage_names)}, got {ref!r}"
    )


class Experiment(Frozen):
    """A policy, a world and the scenarios to evaluate it on.

    Parameters
    ----------
    name : str
        Name used in output; the file loader defaults it to the file's stem.
    description : str
        Free text.
    seed : int
        Entropy for ``numpy.random.SeedSequence``; >= 0.
    rollouts : int
        Number of simulated rollouts per scenario, >= 1.
    policy, service, noise
        See :class:`Policy`, :class:`Service`, :class:`GaussianNoise` and
        :class:`CountsNoise`.
    scenarios : dict of str to Scenario
        Canary behaviours to evaluate. A scenario named ``healthy`` must have no effect.
    sweep : Sweep, optional
        Parameters to vary (see :class:`~canary_mc.model.sweep.Sweep`). The experiment
        itself is the sweep's base; each grid point is an experiment without a sweep.
    """

    name: Annotated[str, Field(min_length=1)] = "experiment"
    description: str = ""
    seed: Annotated[Count, Field(ge=0)] = 0
    rollouts: Annotated[Count, Field(ge=1)] = 10_000
    policy: Policy
    service: Service
    noise: Noise
    scenarios: dict[str, Scenario] = Field(default_factory=dict)
    sweep: Sweep | None = None

    @model_validator(mode="before")
    @classmethod
    def _requests_per_step(cls, data: Any) -> Any:
        # service.requests_per_second sets requests_per_step (times policy.interval).
        # Raw input: anything malformed is left for the field and after-rules to report.
        if not isinstance(data, dict):
            return data
        service, policy = data.get("service"), data.get("policy")
        if not (isinstance(service, dict) and isinstance(policy, dict)):
            return data
        if "requests_per_second" not in service or "requests_per_step" in service:
            return data
        steps = _requests_per_step(service.get("requests_per_second"), policy.get("interval"))
        if steps is None:
            return data
        return {**data, "service": {**service, "requests_per_step": steps}}

    @model_validator(mode="after")
    def _scenarios_consistent(self) -> Experiment:
        problems = self._fault_problems() + self._gauge_problems() + self._rate_problems()
        for name, scenario in self.scenarios.items():
            if name == HEALTHY_NAME and not scenario.healthy:
                problems.append(
                    (
                        ("scenarios", name),
                        "the scenario named 'healthy' must have no effect (all deltas, ramps "
                        "and error_relative 0, latency_factor 1)",
                        scenario.model_dump(),
                    )
                )
            if scenario.latency_tail_only and self.noise.model != "counts":
                problems.append(
                    (
                        ("scenarios", name, "latency_tail_only"),
                        "needs noise.model: counts (the Gaussian model has no latency "
                        "distribution to have a tail)",
                        True,
                    )
                )
            ref = scenario.onset_stage
            message = None if ref is None else onset_stage_problem(ref, self.policy.stage_names)
            if message is not None:
                problems.append((("scenarios", name, "onset_stage"), message, ref))
        problems.extend(self._traffic_problems())
        if problems:
            raise_at("Experiment", problems)
        return self

    def _rate_problems(self) -> list[tuple[tuple[str | int, ...], str, object]]:
        rps = self.service.requests_per_second
        if rps is None:
            return []
        loc = ("service", "requests_per_second")
        if self.policy.interval is None:
            return [(loc, "needs policy.interval (requests per step = per second x interval)", rps)]
        steps = _requests_per_step(rps, self.policy.interval)
        if steps is None or steps < 1:
            return [(loc, f"gives less than one request per {self.policy.interval} step", rps)]
        if self.service.requests_per_step != steps:
            return [
                (
                    ("service", "requests_per_step"),
                    f"disagrees with requests_per_second ({rps:g} x {self.policy.interval} = "
                    f"{steps}); give one of the two",
                    self.service.requests_per_step,
                )
            ]
        return []

    def _gauge_problems(self) -> list[tuple[tuple[str | int, ...], str, object]]:
        problems: list[tuple[tuple[str | int, ...], str, object]] = []
        default_stat = getattr(self.noise, "latency_metric", None)
        for i, metric in enumerate(self.policy.metrics or ()):
            if self.policy.rule.kind == "mannwhitney" and (
                metric.kind == "gauge"
                or (default_stat is not None and metric.stat not in (None, default_stat))
            ):
                problems.append(
                    (
                        ("policy", "metrics", i, "kind" if metric.kind == "gauge" else "stat"),
                        "rule mannwhitney samples the error rate and the noise model's "
                        f"latency statistic ({default_stat or 'latency'}) only; use ztest, "
                        "sprt or msprt for a gauge or another latency statistic",
                        metric.kind if metric.kind == "gauge" else metric.stat,
                    )
                )
            if metric.kind == "gauge" and metric.name not in self.service.gauges:
                problems.append(
                    (
                        ("policy", "metrics", i, "name"),
                        f"gauge {metric.name!r} needs its healthy value and noise in "
                        f"service.gauges.{metric.name}: {{mean: ..., sigma: ...}}",
                        metric.name,
                    )
                )
        return problems

    def _fault_problems(self) -> list[tuple[tuple[str | int, ...], str, object]]:
        """Each fault names a metric (or gauge), takes its signal's fields, and no signal
        gets two faults in one scenario."""
        signals = self.metric_signals
        known = ", ".join(repr(n) for n in signals)
        problems: list[tuple[tuple[str | int, ...], str, object]] = []
        for name, scenario in self.scenarios.items():
            owner: dict[str, str] = {}
            if any(
                getattr(scenario, f) != 0
                for f in ("error_delta", "error_relative", "error_ramp_per_step")
            ):
                owner["rate"] = "the scenario's error_* fields"
            if (
                any(
                    getattr(scenario, f) != 0
                    for f in ("latency_delta_ms", "latency_ramp_ms_per_step")
                )
                or scenario.latency_factor != 1
            ):
                owner["latency"] = "the scenario's latency_* fields"
            for metric, fault in scenario.faults.items():
                loc = ("scenarios", name, "faults", metric)
                if metric not in signals:
                    problems.append(
                        (
                            loc,
                            f"names no metric of the policy or gauge of service.gauges "
                            f"(known: {known})",
                            metric,
                        )
                    )
                    continue
                signal = signals[metric]
                family = "gauge" if signal.startswith("gauge:") else signal
                allowed = FAULT_FIELDS[family]
                for field in fault.given():
                    if field not in allowed:
                        problems.append(
                            (
                                (*loc, field),
                                f"{metric!r} is a {family} metric; its faults take "
                                f"{', '.join(allowed)}",
                                getattr(fault, field),
                            )
                        )
                if fault.latency_tail_only and self.noise.model != "counts":
                    problems.append(
                        (
                            (*loc, "latency_tail_only"),
                            "needs noise.model: counts (the Gaussian "
                            "model has no latency distribution to have a tail)",
                            True,
                        )
                    )
                if signal in owner:
                    problems.append(
                        (
                            loc,
                            f"{metric!r} reads the same signal as {owner[signal]}: give that "
                            "fault once (every metric reading the signal sees it)",
                            metric,
                        )
                    )
                owner[signal] = f"faults.{metric}"
        return problems

    @property
    def metric_signals(self) -> dict[str, str]:
        """Names a fault may use, and the signal each moves: ``rate``, ``latency`` or
        ``gauge:<name>``. Every metric of the policy (the shorthand's ``error`` and
        ``latency`` too) and every gauge of ``service.gauges``."""
        signals = {
            check.name: f"gauge:{check.name}" if check.kind == "gauge" else signal_of(check.kind)
            for check in self.policy.checks
        }
        for gauge in self.service.gauges:
            signals.setdefault(gauge, f"gauge:{gauge}")
        return signals

    def _traffic_problems(self) -> list[tuple[tuple[str, ...], str, object]]:
        """Traffic fields are required by the counts model and meaningless without it."""
        service = self.service
        if self.noise.model == "counts":
            if service.requests_per_step is None and service.requests_per_second is None:
                return [
                    (
                        ("service", "requests_per_step"),
                        "required by noise.model: counts (or requests_per_second)",
                        None,
                    )
                ]
            return []
        unused = {
            "requests_per_step": service.requests_per_step is not None,
            "requests_per_second": service.requests_per_second is not None,
            "baseline": service.baseline != "rest",
            "diurnal_amplitude": service.diurnal_amplitude != 0,
        }
        return [
            (
                ("service", field),
                "only used by noise.model: counts (the Gaussian model has no traffic)",
                getattr(service, field),
            )
            for field, set_ in unused.items()
            if set_
        ]

    @property
    def evaluated_scenarios(self) -> dict[str, Scenario]:
        """The scenarios to run: those given, plus ``healthy`` first if none is healthy.

        False-alarm rates need a healthy canary, so one is always evaluated. Each
        scenario's faults on rate and latency metrics are folded into its ``error_*`` and
        ``latency_*`` fields (the signals they move); gauge faults stay in ``faults``,
        keyed by gauge name.
        """
        signals = self.metric_signals
        scenarios = {name: fold_faults(s, signals) for name, s in self.scenarios.items()}
        if any(s.healthy for s in scenarios.values()):
            return scenarios
        return {HEALTHY_NAME: HEALTHY, **scenarios}

    @property
    def healthy_scenario(self) -> str:
        """Name of the scenario whose rollback rate is the false-alarm rate."""
        return next(name for name, s in self.evaluated_scenarios.items() if s.healthy)


def fold_faults(scenario: Scenario, signals: dict[str, str]) -> Scenario:
    """``scenario`` with its rate and latency faults moved into its shorthand fields.

    Parameters
    ----------
    scenario : Scenario
        Validated within an experiment (each signal has at most one fault).
    signals : dict of str to str
        :attr:`Experiment.metric_signals`.
    """
    update: dict[str, Any] = {}
    gauges = {}
    for metric, fault in scenario.faults.items():
        signal = signals.get(metric, "")
        if signal.startswith("gauge:"):
            gauges[signal.removeprefix("gauge:")] = fault
            continue
        update.update({f: getattr(fault, f) for f in fault.given()})
    if not update and len(gauges) == len(scenario.faults):
        return scenario
    return scenario.model_copy(update={**update, "faults": gauges})


def _requests_per_step(rps: Any, interval: Any) -> int | None:
    """``rps * interval`` rounded half up, or ``None`` if either is not valid input."""
    if isinstance(rps, bool) or not isinstance(rps, int | float) or not math.isfinite(rps):
        return None
    try:
        seconds = duration_seconds(interval)
    except ValueError:
        return None
    return math.floor(exact_decimal(rps) * seconds + Fraction(1, 2))


def unchecked_metrics(experiment: Experiment) -> tuple[tuple[int, str], ...]:
    """``(stage index, metric name)`` of every ``delta`` or ``ratio`` metric at a stage
    where the baseline serves no requests (counts model, ``baseline: rest``, 100%
    traffic): it has nothing to compare the canary with there, so it is never checked."""
    service, policy = experiment.service, experiment.policy
    if experiment.noise.model != "counts" or service.baseline != "rest":
        return ()
    return tuple(
        (i, check.name)
        for i, stage in enumerate(policy.stages)
        if stage.traffic_pct >= 100
        for check in policy.checks
        if check.needs_baseline
    )


@caveat_check
def _unchecked_without_baseline(experiment: Experiment) -> Iterator[Caveat]:
    """A ``delta`` or ``ratio`` metric at a stage where the baseline serves nothing."""
    policy = experiment.policy
    checks = {check.name: check for check in policy.checks}
    for i, name in unchecked_metrics(experiment):
        stage, check = policy.stages[i], checks[name]
        yield Caveat(
            ("policy", "stages", i, "traffic_pct"),
            f"stage {stage.name!r}: metric {check.name!r} (compare: {check.compare}) is "
            f"not checked here: at {stage.traffic_pct:g}% traffic with baseline: rest "
            "the baseline serves no requests, so there is nothing to compare the canary "
            "with (steps without data decide as policy.no_data says). Use compare: "
            "absolute for a limit on the canary alone, or service.baseline: matched",
        )
