"""Kayenta: a canary config (JSON) as an IR: metrics, groups, effect sizes, thresholds.

Semantics and sources: ``docs/import.md``, ``docs/research/import-semantics.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from canary_mc.manifests.source import Assumption, Manifest, Sourced

DIRECTIONS = ("increase", "decrease", "either")


@dataclass(frozen=True)
class KayentaMetric:
    name: Sourced[str]
    query: str
    groups: tuple[str, ...]
    direction: Sourced[str]
    allowed_increase: Sourced[float] | None
    allowed_decrease: Sourced[float] | None
    critical: Sourced[bool] | None
    must_have_data: Sourced[bool] | None


@dataclass(frozen=True)
class KayentaConfig:
    name: Sourced[str]
    metrics: tuple[KayentaMetric, ...]
    group_weights: dict[str, Sourced[float]]
    pass_threshold: Sourced[float] | None
    marginal_threshold: Sourced[float] | None


def is_kayenta(manifest: Manifest) -> bool:
    body = manifest.body
    return (
        isinstance(body, dict)
        and "apiVersion" not in body
        and "metrics" in body
        and "classifier" in body
    )


def _flag(m: Manifest, loc: tuple) -> Sourced[bool] | None:
    value = m.raw(loc)
    if value is None:
        return None
    if not isinstance(value, bool):
        m.problem(loc, f"must be true or false, got {value!r}")
        return None
    return m.sourced(loc, value)


def read_kayenta(m: Manifest, notes: list[Assumption]) -> KayentaConfig:
    name = m.text(("name",)) or m.sourced((), "canary-config")
    metrics = []
    for i, _ in enumerate(m.sequence(("metrics",), required=True)):
        loc = ("metrics", i)
        metric_name = m.text((*loc, "name"), required=True)
        if metric_name is None:
            continue
        canary = (*loc, "analysisConfigurations", "canary")
        direction = m.text((*canary, "direction"))
        if direction is None:
            direction = m.sourced(loc, "either")
        elif direction.value not in DIRECTIONS:
            m.problem(
                (*canary, "direction"),
                f"must be one of {', '.join(DIRECTIONS)}, got {direction.value!r}",
            )
        groups = m.sequence((*loc, "groups"))
        if not groups or not all(isinstance(g, str) for g in groups):
            m.problem((*loc, "groups"), "must list at least one group name")
        query = m.mapping((*loc, "query")) or {}
        text = " ".join(str(v) for v in query.values() if isinstance(v, str))
        for key in ("nanStrategy", "outliers"):
            if m.has((*canary, key)):
                notes.append(
                    Assumption(
                        m.cite((*canary, key)),
                        f"canary.{key}",
                        "not modelled: simulated samples have no NaN and no outliers",
                    )
                )
        effect = (*canary, "effectSize")
        for key in ("criticalIncrease", "criticalDecrease", "measure"):
            if m.has((*effect, key)):
                notes.append(
                    Assumption(
                        m.cite((*effect, key)),
                        f"effectSize.{key}",
                        "not modelled: the mean ratio and the allowed margins only",
                    )
                )
        metrics.append(
            KayentaMetric(
                name=metric_name,
                query=text,
                groups=tuple(g for g in groups if isinstance(g, str)),
                direction=direction,
                allowed_increase=m.number((*effect, "allowedIncrease"), minimum=0),
                allowed_decrease=m.number((*effect, "allowedDecrease"), minimum=0),
                critical=_flag(m, (*canary, "critical")),
                must_have_data=_flag(m, (*canary, "mustHaveData")),
            )
        )
    weights = {}
    for group in m.mapping(("classifier", "groupWeights"), required=True) or {}:
        w = m.number(("classifier", "groupWeights", group), minimum=0, maximum=100)
        if w is not None:
            weights[group] = w
    thresholds = ("classifier", "scoreThresholds")
    return KayentaConfig(
        name=name,
        metrics=tuple(metrics),
        group_weights=weights,
        pass_threshold=m.number((*thresholds, "pass"), minimum=0, maximum=100),
        marginal_threshold=m.number((*thresholds, "marginal"), minimum=0, maximum=100),
    )
