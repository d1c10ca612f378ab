"""Flagger: a ``Canary``'s ``spec.analysis`` and the ``MetricTemplate`` s it names, as an IR.

Semantics and sources: ``docs/import.md``, ``docs/research/import-semantics.md``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from canary_mc.manifests.source import (
    Assumption,
    Manifest,
    Sourced,
    find_template,
    sort_by_kind,
)
from canary_mc.model.rules import flagger_weights

FLAGGER_GROUP = "flagger.app/"
BUILTIN_SUCCESS_RATE = "request-success-rate"
BUILTIN_DURATION = "request-duration"
DEFAULT_INTERVAL_S = 60.0
MIN_INTERVAL_S = 10.0
DEFAULT_MAX_WEIGHT = 100.0


@dataclass(frozen=True)
class FlaggerMetric:
    """One entry of ``analysis.metrics``; ``query`` from its MetricTemplate, if any."""

    name: Sourced[str]
    minimum: Sourced[float] | None
    maximum: Sourced[float] | None
    window_s: Sourced[float] | None
    query: Sourced[str] | None
    template: str | None


@dataclass(frozen=True)
class FlaggerCanary:
    """A Canary's analysis. Weights are the ones Flagger would step through."""

    name: Sourced[str]
    interval_s: Sourced[float]
    threshold: Sourced[int]
    weights: tuple[float, ...]
    weights_from: Sourced[object]
    iterations: Sourced[int] | None
    metrics: tuple[FlaggerMetric, ...]


def is_flagger(manifest: Manifest) -> bool:
    body = manifest.body
    return isinstance(body, dict) and str(body.get("apiVersion", "")).startswith(FLAGGER_GROUP)


def read_flagger(manifests: list[Manifest], notes: list[Assumption]) -> list[FlaggerCanary]:
    """Every ``Canary`` among ``manifests``, MetricTemplate queries resolved."""
    templates, canaries = sort_by_kind(manifests, ("MetricTemplate",), "Canary", notes)
    return [c for c in (_canary(m, templates, notes) for m in canaries) if c is not None]


def _canary(
    m: Manifest, templates: dict[str, Manifest], notes: list[Assumption]
) -> FlaggerCanary | None:
    name = m.text(("metadata", "name"), required=True) or m.sourced(("metadata",), "canary")
    a = ("spec", "analysis")
    if m.mapping(a, required=True) is None:
        return None
    interval = m.duration((*a, "interval"))
    if interval is None:
        interval = Sourced(DEFAULT_INTERVAL_S, m.key_cite(a), "analysis.interval (default 60s)")
    elif interval.value < MIN_INTERVAL_S:
        notes.append(
            Assumption(
                interval.cite,
                interval.field,
                f"Flagger raises intervals below 10s to 10s; {MIN_INTERVAL_S:g}s used",
            )
        )
        interval = Sourced(MIN_INTERVAL_S, interval.cite, interval.field)
    threshold = m.number((*a, "threshold"), integer=True, numeric_text=True)
    if threshold is None or threshold.value <= 0:
        threshold = Sourced(1, m.key_cite(a), "analysis.threshold (Flagger's default 1)")
    step = m.number((*a, "stepWeight"), minimum=0, maximum=100)
    top = m.number((*a, "maxWeight"), minimum=0, maximum=100)
    listed = m.sequence((*a, "stepWeights"))
    iterations = m.number((*a, "iterations"), integer=True, minimum=0)
    weights: list[float] = []
    weights_from: Sourced[object]
    if step is not None and step.value > 0:
        ceiling = top.value if top is not None and top.value > 0 else DEFAULT_MAX_WEIGHT
        weights = flagger_weights(step.value, ceiling)
        weights_from = m.sourced((*a, "stepWeight"), (step.value, ceiling))
        if listed:
            notes.append(
                Assumption(
                    m.cite((*a, "stepWeights")),
                    "analysis.stepWeights",
                    "ignored: Flagger uses stepWeight when both are set",
                )
            )
    elif listed:
        for i, _ in enumerate(listed):
            w = m.number((*a, "stepWeights", i), minimum=0, maximum=100)
            if w is not None:
                weights.append(w.value)
        if any(b <= w for w, b in itertools.pairwise(weights)):
            m.problem((*a, "stepWeights"), f"must increase, got {weights}")
        weights_from = m.sourced((*a, "stepWeights"), tuple(weights))
    elif iterations is not None and iterations.value > 0:
        weights_from = m.sourced((*a, "iterations"), iterations.value)
    else:
        m.problem(a, "needs stepWeight, stepWeights or iterations to be a canary analysis")
        return None
    if m.has((*a, "stepWeightPromotion")):
        notes.append(
            Assumption(
                m.cite((*a, "stepWeightPromotion")),
                "analysis.stepWeightPromotion",
                "not modelled: promotion runs no metric checks, so it cannot roll back",
            )
        )
    for key in ("webhooks", "mirror", "match", "sessionAffinity"):
        if m.has((*a, key)):
            notes.append(Assumption(m.cite((*a, key)), f"analysis.{key}", "not modelled"))
    metrics = []
    for i, _ in enumerate(m.sequence((*a, "metrics"), required=True)):
        metric = _metric(m, (*a, "metrics", i), templates, notes)
        if metric is not None:
            metrics.append(metric)
    return FlaggerCanary(
        name,
        interval,
        threshold,
        tuple(weights),
        weights_from,  # type: ignore[arg-type]
        iterations if iterations and iterations.value > 0 else None,  # type: ignore[arg-type]
        tuple(metrics),
    )


def _metric(
    m: Manifest, loc: tuple, templates: dict[str, Manifest], notes: list[Assumption]
) -> FlaggerMetric | None:
    name = m.text((*loc, "name"), required=True)
    if name is None:
        return None
    lo = m.number((*loc, "thresholdRange", "min"))
    hi = m.number((*loc, "thresholdRange", "max"))
    if lo is None and hi is None:
        old = m.number((*loc, "threshold"))
        if old is None:
            m.problem(loc, "needs thresholdRange (min, max or both)")
            return None
        # Deprecated threshold: a success rate fails below it, anything else above it.
        if name.value == BUILTIN_SUCCESS_RATE:
            lo = old
        else:
            hi = old
    if lo is not None and hi is not None and lo.value > hi.value:
        m.problem((*loc, "thresholdRange"), f"min {lo.value:g} is above max {hi.value:g}")
    query, template = None, None
    if m.has((*loc, "templateRef")):
        found = find_template(m, (*loc, "templateRef", "name"), templates, "MetricTemplate")
        if found is None:
            return None
        template, t = found
        query = t.text(("spec", "query"), required=True)
    elif name.value not in (BUILTIN_SUCCESS_RATE, BUILTIN_DURATION):
        query = m.text((*loc, "query"))
        if query is None:
            m.problem(loc, f"'{name.value}' is not a built-in metric and has no templateRef")
            return None
    return FlaggerMetric(name, lo, hi, m.duration((*loc, "interval")), query, template)
