"""The rollout policy: stages, thresholds and the decision rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from canary_mc.model._base import MAX_STEPS, Frozen, Number, Steps, raise_at
from canary_mc.model.metrics import (
    MAX_METRICS,
    Duration,
    Limits,
    Metric,
    MetricCheck,
    duration_seconds,
    resolve_checks,
    shorthand_checks,
)
from canary_mc.model.rules import (
    MIN_STEP_WEIGHT,
    STATISTICAL_RULES,
    CumulativeChecksRule,
    Rule,
    SprtRule,
    ThresholdRule,
    flagger_weights,
)

__all__ = ["MAX_STEPS", "Policy", "Stage"]


def repeated_stage_names(names: Sequence[object]) -> list[tuple[int, str]]:
    """The rule "stage names are unique": (index, message) for each repeat of a name.

    Shared by :class:`Policy` and the file loader, which applies it to raw input.
    """
    seen: set[str] = set()
    repeats = []
    for i, name in enumerate(names):
        if not isinstance(name, str):  # raw input: not a name, reported by field rules
            continue
        if name in seen:
            repeats.append((i, f"stage names must be unique, got {name!r} twice"))
        seen.add(name)
    return repeats


class Stage(Frozen):
    """One traffic stage of a canary rollout.

    Parameters
    ----------
    name : str
        Unique name within the policy, e.g. ``"canary-5pct"``.
    traffic_pct : float
        Percentage of traffic (not a fraction) sent to the canary, in (0, 100].
    duration_steps : int
        Number of evaluation steps (bake time) spent in this stage, at least 1.
    duration : str, optional
        The bake time as a duration (``10m``), instead of ``duration_steps``: it must be
        a whole number of ``policy.interval``s, and ``duration_steps`` is that number.
    error_threshold : float, optional
        Shorthand (a policy without ``metrics``, where it is required): largest allowed
        error-rate delta (canary minus baseline, as a fraction) before
        ``Policy.error_threshold_scale`` is applied; at least 0.
    latency_threshold_ms : float, optional
        Shorthand: per-stage latency-delta limit in ms; ``None`` uses
        ``Policy.latency_threshold_ms``.
    metrics : dict of str to Limits, optional
        Per-stage limits of the policy's metrics, by metric name: ``{p99: {max: 800}}``
        replaces that metric's ``max`` at this stage.
    """

    name: Annotated[str, Field(min_length=1)]
    traffic_pct: Annotated[Number, Field(gt=0, le=100)]
    duration_steps: Annotated[Steps, Field(ge=1)] = 1
    duration: Duration | None = None
    error_threshold: Annotated[Number | None, Field(ge=0)] = None
    latency_threshold_ms: Annotated[Number | None, Field(ge=0)] = None
    metrics: dict[str, Limits] | None = None


class Policy(Frozen):
    """A canary rollout policy.

    Parameters
    ----------
    stages : tuple of Stage
        Non-empty, with unique names, in rollout order.
    latency_threshold_ms : float
        Largest allowed latency delta (canary minus baseline) in ms, for every stage
        without its own ``latency_threshold_ms``. Default 50, as in the seed.
    error_threshold_scale : float
        Multiplies every stage's ``error_threshold``, so one number tightens (< 1) or
        loosens (> 1) the whole policy. Default 1.
    rule : Rule
        The decision rule, a mapping chosen by ``kind`` (see :mod:`canary_mc.model.rules`
        and ``docs/rules.md``); the bare string ``threshold`` is the seed's rule, which
        rolls back at the first step whose error or latency delta exceeds its limit.
    no_data : {"hold", "pass", "fail"}
        What a step without data decides (counts model: the canary or the baseline served
        no requests, so a rate is undefined). ``hold`` (default): no decision at that
        step; ``pass``: the step passes; ``fail``: roll back (reason ``no_data``), as
        Flagger does. Under ``threshold`` hold and pass decide alike; see
        ``docs/rules.md`` for the other rules.
    metrics : tuple of Metric, optional
        The metrics checked at every step (see :class:`~canary_mc.model.metrics.Metric`
        and ``docs/metrics.md``). Unset: the shorthand, two ``delta`` metrics ``error``
        (the stages' ``error_threshold`` times ``error_threshold_scale``) and ``latency``
        (``latency_threshold_ms``).
    interval : str, optional
        Time between two evaluation steps (Flagger's ``analysis.interval``, Argo's
        ``interval``): ``30s``, ``1m``, ``5m``. Needed by stage ``duration`` and
        ``service.requests_per_second``; times to decision are then also in minutes.
    """

    stages: tuple[Stage, ...]
    latency_threshold_ms: Annotated[Number, Field(ge=0)] = 50.0
    error_threshold_scale: Annotated[Number, Field(ge=0)] = 1.0
    rule: Rule = ThresholdRule()
    no_data: Literal["hold", "pass", "fail"] = "hold"
    metrics: tuple[Metric, ...] | None = None
    interval: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _durations_in_steps(cls, data: Any) -> Any:
        # A stage's ``duration`` sets its ``duration_steps`` (duration / interval). Raw
        # input: anything malformed or inconsistent is left for the after-rules to report.
        if not isinstance(data, dict) or not isinstance(data.get("stages"), list | tuple):
            return data
        try:
            interval = duration_seconds(data.get("interval"))
        except ValueError:
            return data
        stages = []
        for stage in data["stages"]:
            if isinstance(stage, dict) and "duration" in stage and "duration_steps" not in stage:
                try:
                    steps = duration_seconds(stage["duration"]) / interval
                except ValueError:
                    steps = None
                if steps is not None and steps.denominator == 1 and steps >= 1:
                    stage = {**stage, "duration_steps": int(steps)}
            stages.append(stage)
        return {**data, "stages": stages}

    @model_validator(mode="before")
    @classmethod
    def _flagger_stages(cls, data: Any) -> Any:
        # Flagger's stepWeight/maxWeight: one template stage becomes one stage per weight.
        # Raw input; anything malformed is left for the field rules to report.
        if not isinstance(data, dict):
            return data
        rule, stages = data.get("rule"), data.get("stages")
        if not (isinstance(rule, dict) and rule.get("kind") == "cumulative_checks"):
            return data
        step, top = rule.get("step_weight"), rule.get("max_weight", 100.0)
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) and MIN_STEP_WEIGHT <= v <= 100
            for v in (step, top)
        )
        if not (numbers and isinstance(stages, list | tuple) and len(stages) == 1):
            return data
        template = stages[0]
        if isinstance(template, Stage):
            template = template.model_dump()
        if not isinstance(template, dict):
            return data
        return {
            **data,
            "stages": [
                {**template, "name": f"weight-{w:g}", "traffic_pct": w}
                for w in flagger_weights(float(step), float(top))
            ],
        }

    @field_validator("stages")
    @classmethod
    def _at_least_one_stage(cls, stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
        if not stages:
            raise ValueError("must list at least one stage, got an empty list")
        return stages

    @model_validator(mode="after")
    def _stage_names_unique(self) -> Policy:
        duplicates = repeated_stage_names([stage.name for stage in self.stages])
        if duplicates:
            raise_at(
                "Policy",
                [
                    (("stages", i, "name"), message, self.stages[i].name)
                    for i, message in duplicates
                ],
            )
        problems = self._duration_problems() + self._metric_problems()
        if problems:
            raise_at("Policy", problems)
        rule = self.rule
        if isinstance(rule, CumulativeChecksRule) and rule.step_weight is not None:
            weights = flagger_weights(rule.step_weight, rule.max_weight)
            if [s.traffic_pct for s in self.stages] != weights:
                raise_at(
                    "Policy",
                    [
                        (
                            ("rule", "step_weight"),
                            "cumulative_checks: with step_weight, policy.stages must hold one "
                            f"template stage (its weights are made from step_weight), "
                            f"got {len(self.stages)} stages",
                            rule.step_weight,
                        )
                    ],
                )
        if self.max_steps > MAX_STEPS:
            extra = "" if self.max_steps == self.n_steps else " plus the rule's extra steps"
            raise_at(
                "Policy",
                [
                    (
                        ("stages",),
                        f"the stages' duration_steps{extra} must add up to at most "
                        f"{MAX_STEPS} evaluation steps, got {self.max_steps}",
                        self.max_steps,
                    )
                ],
            )
        return self

    def _duration_problems(self) -> list[tuple[tuple[str | int, ...], str, Any]]:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        interval = None if self.interval is None else duration_seconds(self.interval)
        for i, stage in enumerate(self.stages):
            if stage.duration is None:
                continue
            loc = ("stages", i, "duration")
            if interval is None:
                problems.append((loc, "needs policy.interval (e.g. interval: 1m)", stage.duration))
                continue
            steps = duration_seconds(stage.duration) / interval
            if steps.denominator != 1 or steps < 1:
                problems.append(
                    (
                        loc,
                        f"must be a whole number of policy.interval ({self.interval}), "
                        f"got {stage.duration} = {float(steps):g} intervals",
                        stage.duration,
                    )
                )
            elif int(steps) != stage.duration_steps:
                problems.append(
                    (
                        ("stages", i, "duration_steps"),
                        f"disagrees with duration {stage.duration} ({int(steps)} steps of "
                        f"{self.interval}); give one of the two",
                        stage.duration_steps,
                    )
                )
        return problems

    def _metric_problems(self) -> list[tuple[tuple[str | int, ...], str, Any]]:
        """Cross-field rules of ``metrics``: unique names, stage references, the shorthand
        not mixed in, and compare modes the rule can test."""
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        if self.metrics is None:
            for i, stage in enumerate(self.stages):
                if stage.error_threshold is None:
                    problems.append(
                        (
                            ("stages", i, "error_threshold"),
                            "required when the policy lists no metrics (or list policy.metrics)",
                            None,
                        )
                    )
                if stage.metrics is not None:
                    problems.append(
                        (
                            ("stages", i, "metrics"),
                            "names metrics, but the policy lists none in policy.metrics",
                            stage.metrics,
                        )
                    )
            return problems
        names = [m.name for m in self.metrics]
        if not self.metrics:
            problems.append((("metrics",), "must list at least one metric, got an empty list", []))
        if len(self.metrics) > MAX_METRICS:
            problems.append(
                (("metrics",), f"at most {MAX_METRICS} metrics, got {len(names)}", len(names))
            )
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                problems.append(
                    (
                        ("metrics", i, "name"),
                        f"metric names must be unique, got {name!r} twice",
                        name,
                    )
                )
            seen.add(name)
        for field in ("latency_threshold_ms", "error_threshold_scale"):
            if field in self.model_fields_set:
                problems.append(
                    (
                        (field,),
                        "is shorthand for a policy without metrics; with policy.metrics set "
                        "each metric's max / min (and stages' metrics overrides) instead",
                        getattr(self, field),
                    )
                )
        known = ", ".join(repr(n) for n in names)
        for i, stage in enumerate(self.stages):
            for field in ("error_threshold", "latency_threshold_ms"):
                if getattr(stage, field) is not None:
                    problems.append(
                        (
                            ("stages", i, field),
                            "is shorthand for a policy without metrics; with policy.metrics "
                            "give this stage's limits as metrics: {<metric>: {max: ...}}",
                            getattr(stage, field),
                        )
                    )
            for name, limits in (stage.metrics or {}).items():
                if name not in names:
                    problems.append(
                        (
                            ("stages", i, "metrics", name),
                            f"names no metric of policy.metrics (known: {known})",
                            name,
                        )
                    )
                    continue
                metric = self.metrics[names.index(name)]
                hi = metric.max if limits.max is None else limits.max
                lo = metric.min if limits.min is None else limits.min
                if hi is not None and lo is not None and lo > hi:
                    problems.append(
                        (
                            ("stages", i, "metrics", name, "min"),
                            f"must be at most max ({hi:g}), got {lo:g}",
                            lo,
                        )
                    )
        for name in getattr(self.rule, "metrics", {}) if self.rule.kind == "kayenta" else ():
            if name not in names:
                problems.append(
                    (
                        ("rule", "metrics", name),
                        f"names no metric of policy.metrics (known: {', '.join(names)})",
                        name,
                    )
                )
        statistical = self.rule.kind in STATISTICAL_RULES
        for i, metric in enumerate(self.metrics):
            if metric.inconclusive is not None and (
                self.rule.kind != "failure_limit" or self.rule.consecutive
            ):
                problems.append(
                    (
                        ("metrics", i, "inconclusive"),
                        "an Inconclusive band needs rule failure_limit without consecutive "
                        f"(Argo counts totals); got rule {self.rule.kind}"
                        + (" with consecutive: true" if self.rule.kind == "failure_limit" else ""),
                        metric.inconclusive.model_dump(mode="json"),
                    )
                )
            if statistical and metric.compare != "delta":
                problems.append(
                    (
                        ("metrics", i, "compare"),
                        f"rule {self.rule.kind} tests canary against baseline, so it needs "
                        f"compare: delta; got {metric.compare}. For a limit on the canary's "
                        "own value (absolute) or on canary / baseline (ratio) use a "
                        "threshold-family rule: threshold, failure_limit or cumulative_checks",
                        metric.compare,
                    )
                )
            if (
                isinstance(self.rule, SprtRule)
                and metric.kind == "gauge"
                and metric.min_effect is None
            ):
                problems.append(
                    (
                        ("metrics", i, "min_effect"),
                        "required for a gauge under rule sprt: the change H1 puts on the "
                        "canary, in the gauge's unit",
                        None,
                    )
                )
            if not statistical:
                limited = metric.max is not None or metric.min is not None
                limited |= any(
                    (stage.metrics or {}).get(metric.name) is not None for stage in self.stages
                )
                if not limited:
                    problems.append(
                        (
                            ("metrics", i),
                            f"metric {metric.name!r} has no limit: rule {self.rule.kind} "
                            "needs max, min or both (here or in a stage's metrics)",
                            metric.name,
                        )
                    )
        return problems

    @property
    def checks(self) -> tuple[MetricCheck, ...]:
        """Every metric the policy checks, resolved per stage (the engine's view):
        ``metrics``, or the shorthand's two ``delta`` metrics ``error`` and ``latency``."""
        if self.metrics is None:
            return shorthand_checks(
                self.stages, self.latency_threshold_ms, self.error_threshold_scale
            )
        return resolve_checks(self.metrics, self.stages)

    @property
    def interval_minutes(self) -> float | None:
        """``interval`` in minutes, or ``None`` when the policy gives no interval."""
        return None if self.interval is None else float(duration_seconds(self.interval) / 60)

    @property
    def n_steps(self) -> int:
        """Total number of evaluation steps: the sum of the stages' ``duration_steps``."""
        return sum(stage.duration_steps for stage in self.stages)

    @property
    def max_steps(self) -> int:
        """Most evaluation steps a rollout can run: ``n_steps``, plus ``threshold - 1``
        held steps under ``cumulative_checks`` (each failed check holds the weight)."""
        if isinstance(self.rule, CumulativeChecksRule):
            return self.n_steps + self.rule.threshold - 1
        return self.n_steps

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Stage names in rollout order."""
        return tuple(stage.name for stage in self.stages)

    def stage_index(self, ref: str | int) -> int:
        """Index of a stage given by name or 0-based index; ``KeyError`` if there is none."""
        if isinstance(ref, int):
            if 0 <= ref < len(self.stages):
                return ref
        elif ref in self.stage_names:
            return self.stage_names.index(ref)
        raise KeyError(ref)
