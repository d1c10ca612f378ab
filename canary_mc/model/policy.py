"""The rollout policy: stages, thresholds and the decision rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from canary_mc.model._base import MAX_STEPS, Frozen, Number, Steps, raise_at
from canary_mc.model.rules import (
    MIN_STEP_WEIGHT,
    CumulativeChecksRule,
    Rule,
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
    error_threshold : float
        Largest allowed error-rate delta (canary minus baseline, as a fraction) before
        ``Policy.error_threshold_scale`` is applied; at least 0.
    latency_threshold_ms : float, optional
        Per-stage latency-delta limit in ms; ``None`` uses ``Policy.latency_threshold_ms``.
    """

    name: Annotated[str, Field(min_length=1)]
    traffic_pct: Annotated[Number, Field(gt=0, le=100)]
    duration_steps: Annotated[Steps, Field(ge=1)] = 1
    error_threshold: Annotated[Number, Field(ge=0)]
    latency_threshold_ms: Annotated[Number | None, Field(ge=0)] = None


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
    """

    stages: tuple[Stage, ...]
    latency_threshold_ms: Annotated[Number, Field(ge=0)] = 50.0
    error_threshold_scale: Annotated[Number, Field(ge=0)] = 1.0
    rule: Rule = ThresholdRule()
    no_data: Literal["hold", "pass", "fail"] = "hold"

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
