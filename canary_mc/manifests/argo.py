"""Argo Rollouts: a ``Rollout``'s canary steps and its analysis templates, as an IR.

Reads ``Rollout`` ``spec.strategy.canary`` (``steps``: ``setWeight``, ``pause``,
``analysis``; background ``analysis`` with ``startingStep``) and the ``AnalysisTemplate``
/ ``ClusterAnalysisTemplate`` s it names, with plain ``args`` substituted. Every value
keeps its ``file:line``. Semantics and sources: ``docs/import.md``,
``docs/research/import-semantics.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from canary_mc.manifests.expressions import (
    Condition,
    ConditionSyntaxError,
    read_condition,
    substitute_args,
)
from canary_mc.manifests.source import (
    Assumption,
    Cite,
    Manifest,
    Sourced,
    find_template,
    sort_by_kind,
)

ARGO_GROUP = "argoproj.io/"
TEMPLATE_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate")
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
"""Argo's default ``consecutiveErrorLimit`` (utils/defaults)."""


@dataclass(frozen=True)
class ArgoMetric:
    """One metric of an analysis, arguments substituted.

    ``count`` is Argo's effective count: 1 with neither ``count`` nor ``interval``,
    ``None`` (until the run ends) with an ``interval`` alone.
    """

    name: Sourced[str]
    interval_s: Sourced[float] | None
    count: Sourced[int] | None
    initial_delay_s: Sourced[float] | None
    failure_limit: Sourced[int]
    inconclusive_limit: Sourced[int]
    consecutive_error_limit: Sourced[int]
    success: Sourced[Condition] | None
    failure: Sourced[Condition] | None
    query: Sourced[str] | None
    provider: str


@dataclass(frozen=True)
class ArgoAnalysis:
    """An analysis (inline step or background): its templates' metrics merged."""

    cite: Cite
    templates: tuple[str, ...]
    metrics: tuple[ArgoMetric, ...]


@dataclass(frozen=True)
class ArgoStep:
    """One canary step: ``kind`` is ``setWeight``, ``pause``, ``analysis`` or another key."""

    index: int
    kind: str
    cite: Cite
    weight: float | None = None
    pause_s: float | None = None  # None with kind pause: indefinite (pause: {})
    analysis: ArgoAnalysis | None = None


@dataclass(frozen=True)
class ArgoRollout:
    """A Rollout's canary strategy."""

    name: Sourced[str]
    steps: tuple[ArgoStep, ...]
    background: ArgoAnalysis | None
    starting_step: Sourced[int] | None


def is_argo(manifest: Manifest) -> bool:
    body = manifest.body
    return isinstance(body, dict) and str(body.get("apiVersion", "")).startswith(ARGO_GROUP)


def read_argo(manifests: list[Manifest], notes: list[Assumption]) -> list[ArgoRollout]:
    """Every ``Rollout`` among ``manifests`` with its analyses resolved.

    Problems go to each manifest's problem list; what is read but not modelled goes to
    ``notes``.
    """
    templates, rollouts = sort_by_kind(manifests, TEMPLATE_KINDS, "Rollout", notes)
    return [_rollout(m, templates, notes) for m in rollouts]


def _rollout(m: Manifest, templates: dict[str, Manifest], notes: list[Assumption]) -> ArgoRollout:
    name = m.text(("metadata", "name"), required=True) or m.sourced(("metadata",), "rollout")
    canary = ("spec", "strategy", "canary")
    if m.mapping(canary) is None:
        m.problem(("spec", "strategy"), "must have 'canary' (only the canary strategy is imported)")
        return ArgoRollout(name, (), None, None)
    steps = []
    for i, raw in enumerate(m.sequence((*canary, "steps"))):
        loc = (*canary, "steps", i)
        if not isinstance(raw, dict) or len(raw) != 1:
            m.problem(loc, "must be a mapping with one key (setWeight, pause, analysis, ...)")
            continue
        kind = next(iter(raw))
        if kind == "setWeight":
            weight = m.number((*loc, kind), minimum=0, maximum=100)
            steps.append(ArgoStep(i, kind, m.cite(loc), weight=weight.value if weight else None))
        elif kind == "pause":
            if m.mapping((*loc, kind)) is None and raw[kind] is not None:
                continue
            pause = m.duration((*loc, kind, "duration"), bare_seconds=True)
            steps.append(ArgoStep(i, kind, m.cite(loc), pause_s=pause.value if pause else None))
        elif kind == "analysis":
            analysis = _analysis(m, (*loc, kind), templates, {}, notes)
            steps.append(ArgoStep(i, kind, m.cite(loc), analysis=analysis))
        else:
            steps.append(ArgoStep(i, kind, m.cite(loc)))
    background = None
    starting = None
    if m.mapping((*canary, "analysis")) is not None:
        background = _analysis(m, (*canary, "analysis"), templates, {}, notes)
        starting = m.number((*canary, "analysis", "startingStep"), integer=True, minimum=0)
    return ArgoRollout(name, tuple(steps), background, starting)  # type: ignore[arg-type]


def _args(m: Manifest, loc: tuple, notes: list[Assumption]) -> dict[str, str]:
    values: dict[str, str] = {}
    for i, arg in enumerate(m.sequence(loc)):
        if not isinstance(arg, dict) or not isinstance(arg.get("name"), str):
            m.problem((*loc, i), "must be a mapping with a 'name'")
            continue
        if "value" in arg and isinstance(arg["value"], str | int | float):
            values[arg["name"]] = str(arg["value"])
        elif "valueFrom" in arg:
            notes.append(
                Assumption(
                    m.cite((*loc, i, "valueFrom")),
                    f"args.{arg['name']}",
                    "valueFrom is resolved only in a cluster; left unresolved",
                )
            )
    return values


def _analysis(
    m: Manifest,
    loc: tuple,
    templates: dict[str, Manifest],
    outer: dict[str, str],
    notes: list[Assumption],
) -> ArgoAnalysis:
    args = {**outer, **_args(m, (*loc, "args"), notes)}
    names, metrics = [], []
    refs = m.sequence((*loc, "templates"), required=True)
    for i in range(len(refs)):
        found = find_template(
            m, (*loc, "templates", i, "templateName"), templates, "AnalysisTemplate"
        )
        if found is None:
            continue
        name, template = found
        names.append(name)
        own = {**_args(template, ("spec", "args"), notes), **args}
        for j, _ in enumerate(template.sequence(("spec", "metrics"), required=True)):
            metric = _metric(template, ("spec", "metrics", j), own, notes)
            if metric is not None:
                metrics.append(metric)
    return ArgoAnalysis(m.cite(loc), tuple(names), tuple(metrics))


def _limit(m: Manifest, loc: tuple, default: int) -> Sourced[int]:
    value = m.number(loc, integer=True, minimum=-1, numeric_text=True)
    return (
        value
        if value is not None
        else Sourced(default, m.key_cite(loc[:-1]), f"{loc[-1]} (default)")
    )  # type: ignore[return-value]


def _metric(
    m: Manifest, loc: tuple, args: dict[str, str], notes: list[Assumption]
) -> ArgoMetric | None:
    name = m.text((*loc, "name"), required=True)
    if name is None:
        return None
    conditions: dict[str, Sourced[Condition] | None] = {}
    for key in ("successCondition", "failureCondition"):
        text = m.text((*loc, key))
        conditions[key] = None
        if text is None:
            continue
        resolved, missing = substitute_args(text.value, args)
        if missing:
            m.problem((*loc, key), f"uses {{{{args.{missing[0]}}}}}, which has no plain value")
            continue
        try:
            conditions[key] = Sourced(read_condition(resolved), text.cite, text.field)
        except ConditionSyntaxError as exc:
            m.problem((*loc, key), f"cannot be read ({exc}): {resolved!r}")
    provider = m.mapping((*loc, "provider"), required=True) or {}
    kind = next(iter(provider), "none")
    query = m.text((*loc, "provider", kind, "query")) if kind != "none" else None
    if query is not None:
        query = Sourced(substitute_args(query.value, args)[0], query.cite, query.field)
    interval = m.duration((*loc, "interval"))
    count = m.number((*loc, "count"), integer=True, minimum=0, numeric_text=True)
    if count is not None and count.value == 0:
        count = None
    if count is None and interval is None:
        count = Sourced(1, m.cite(loc), "count (effective: neither count nor interval)")
    elif count is not None and count.value > 1 and interval is None:
        m.problem((*loc, "count"), f"count {count.value} needs an interval (Argo rejects it)")
    if m.has((*loc, "consecutiveSuccessLimit")):
        notes.append(
            Assumption(
                m.cite((*loc, "consecutiveSuccessLimit")),
                "consecutiveSuccessLimit",
                "not modelled: success is judged by failureLimit over count only",
            )
        )
    return ArgoMetric(
        name=name,
        interval_s=interval,
        count=count,  # type: ignore[arg-type]
        initial_delay_s=m.duration((*loc, "initialDelay")),
        failure_limit=_limit(m, (*loc, "failureLimit"), 0),
        inconclusive_limit=_limit(m, (*loc, "inconclusiveLimit"), 0),
        consecutive_error_limit=_limit(
            m, (*loc, "consecutiveErrorLimit"), DEFAULT_CONSECUTIVE_ERROR_LIMIT
        ),
        success=conditions["successCondition"],
        failure=conditions["failureCondition"],
        query=query,
        provider=kind,
    )
