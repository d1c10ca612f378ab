"""Translate each system's IR into an experiment policy (issue-12 schema), citing sources.

One function per system: :func:`argo_policy`, :func:`flagger_policy`,
:func:`kayenta_policy`. Each fills a :class:`~canary_mc.manifests.document.Draft`:
``policy`` with every value's ``file:line`` as a comment, and the notes of what is not
modelled. The mapping, field by field, is ``docs/import.md``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from canary_mc.manifests.argo import ArgoAnalysis, ArgoMetric, ArgoRollout
from canary_mc.manifests.document import Draft
from canary_mc.manifests.expressions import Band, Condition
from canary_mc.manifests.flagger import BUILTIN_DURATION, BUILTIN_SUCCESS_RATE, FlaggerCanary
from canary_mc.manifests.kayenta import KayentaConfig
from canary_mc.manifests.kinds import MetricKind, guess_kind
from canary_mc.manifests.source import Cite, Sourced, format_go_duration

NO_DATA_OF = {"true": "pass", "false": "fail", "error": "hold"}
"""Argo's truth of a condition on an empty result, as canary-mc's ``policy.no_data``
(an evaluation error is an Error measurement: no evidence, so ``hold``)."""


class TranslationError(ValueError):
    """A manifest that canary-mc cannot express; carries its citation."""

    def __init__(self, cite: Cite, field_name: str, message: str) -> None:
        self.cite, self.field_name = cite, field_name
        super().__init__(message)


# --- shared ----------------------------------------------------------------------------------


def _metric_kind(
    name: str, query: str | None, overrides: Mapping[str, MetricKind], **hint: Any
) -> MetricKind:
    return overrides.get(name) or guess_kind(name, query, **hint)


def _metric_entry(name: str, kind: MetricKind, compare: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "kind": kind.kind}
    if kind.stat is not None:
        entry["stat"] = kind.stat
    if kind.unit is not None and kind.unit != "fraction":
        entry["unit"] = kind.unit
    entry["compare"] = compare
    return entry


def _unique_name(base: str, taken: set[str]) -> str:
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add(name)
    return name


def _limit(value: float, kind: MetricKind) -> float:
    scaled = value * kind.to_ms if kind.kind == "latency" else value
    return float(f"{scaled:.12g}")


# --- Argo Rollouts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ArgoRange:
    """What one Argo metric's conditions mean as a canary-mc check (in the query's unit)."""

    minimum: float | None
    maximum: float | None
    no_data: str
    inconclusive: dict[str, float] | None = None


def argo_range(metric: ArgoMetric, draft: Draft) -> ArgoRange:
    """The passing range of a metric's conditions, noting what a range cannot say.

    A measurement is Failed when the failure condition holds (or, without one, when the
    success condition does not); canary-mc's check passes on everything else. With both
    conditions set, a value where neither holds is Inconclusive: the success condition's
    range becomes the metric's ``inconclusive`` band (values outside it that do not fail).
    """
    success = metric.success.value if metric.success else None
    failure = metric.failure.value if metric.failure else None
    where = metric.failure or metric.success or metric.name
    if success is None and failure is None:
        draft.note(
            metric.name.cite,
            f"metrics.{metric.name.value}",
            "no successCondition or failureCondition: Argo counts every measurement "
            "Successful; imported without limits (never fails)",
        )
        return ArgoRange(None, None, "hold")
    if failure is not None:
        passing = _complement(failure.bands)
        flip = {"true": "fail", "false": "pass", "error": "hold"}
        no_data, on_nan = flip[failure.on_empty], flip[failure.on_nan]
    else:
        assert success is not None
        passing = success.bands
        no_data, on_nan = NO_DATA_OF[success.on_empty], NO_DATA_OF[success.on_nan]
    if on_nan != no_data:
        draft.note(
            where.cite,
            where.field,
            f"a NaN result (a ratio over no requests) decides '{on_nan}' in Argo, an empty one "
            f"'{no_data}'; canary-mc's policy.no_data follows the empty result",
        )
    if len(passing) != 1:
        raise TranslationError(
            where.cite,
            where.field,
            "passes on no value at all"
            if not passing
            else "passes on more than one range of values; canary-mc's check is one range "
            "(min, max)",
        )
    band = passing[0]
    for end, closed, word in (
        (band.low, band.low_closed, "min"),
        (band.high, band.high_closed, "max"),
    ):
        if math.isfinite(end) and not closed:
            draft.note(
                where.cite,
                where.field,
                f"Argo fails a value equal to {end:g}; canary-mc's {word} passes it "
                "(differs only when a measurement hits the limit exactly)",
            )
    inconclusive = None
    if success is not None and failure is not None and _inconclusive_text(success, failure):
        inconclusive = _success_band(metric, band, draft)
    return ArgoRange(
        band.low if math.isfinite(band.low) else None,
        band.high if math.isfinite(band.high) else None,
        no_data,
        inconclusive,
    )


def _success_band(metric: ArgoMetric, passing: Band, draft: Draft) -> dict[str, float] | None:
    """The success condition's range inside the passing one, as ``{min, max}``: what a
    metric's ``inconclusive`` band says (``None`` when it is not one range)."""
    success = metric.success
    assert success is not None and metric.failure is not None
    bands = success.value.bands
    if len(bands) != 1:
        draft.note(
            success.cite,
            success.field,
            "succeeds on more than one range of values; canary-mc's passing band is one range, "
            "so Inconclusive values are counted as passing (its stop rate is a lower bound)",
        )
        return None
    (ok,) = bands
    out: dict[str, float] = {}
    for end, closed, word, inside in (
        (ok.low, ok.low_closed, "min", ok.low > passing.low),
        (ok.high, ok.high_closed, "max", ok.high < passing.high),
    ):
        if not (math.isfinite(end) and inside):
            continue
        out[word] = end
        if not closed:
            draft.note(
                success.cite,
                success.field,
                f"Argo calls a value equal to {end:g} Inconclusive; canary-mc's "
                f"inconclusive.{word} passes it (differs only when a measurement hits it exactly)",
            )
    return out or None


def _complement(bands: tuple[Band, ...]) -> tuple[Band, ...]:
    out, low, low_closed = [], -math.inf, False
    for b in bands:
        if b.low > low or (b.low == low and low_closed and not b.low_closed):
            out.append(Band(low, b.low, low_closed, not b.low_closed))
        low, low_closed = b.high, not b.high_closed
    if low < math.inf:
        out.append(Band(low, math.inf, low_closed, False))
    return tuple(out)


def _inconclusive_text(success: Condition, failure: Condition) -> str:
    probes = sorted(
        {e for b in (*success.bands, *failure.bands) for e in (b.low, b.high) if math.isfinite(e)}
    )
    gaps = [x for x in probes if not success.holds(x) and not failure.holds(x)]
    mids = [
        (a + b) / 2
        for a, b in itertools.pairwise(probes)
        if not success.holds((a + b) / 2) and not failure.holds((a + b) / 2)
    ]
    if not gaps and not mids:
        return ""
    lo, hi = min(gaps + mids), max(gaps + mids)
    left = "[" if lo in gaps else "("
    right = "]" if hi in gaps else ")"
    lo = max(p for p in probes if p <= lo)
    hi = min(p for p in probes if p >= hi)
    return f"in {left}{lo:g}, {hi:g}{right}"


def _shared(values: list[Sourced[Any]], label: str, draft: Draft, pick=min) -> Sourced[Any]:
    """One value for the policy where Argo has one per metric: the common one, or ``pick``."""
    distinct = sorted({v.value for v in values})
    chosen = next(v for v in values if v.value == pick(distinct))
    if len(distinct) > 1:
        draft.note(
            chosen.cite,
            chosen.field,
            f"the metrics' {label}s differ ({', '.join(f'{d:g}' for d in distinct)}); "
            f"canary-mc has one per policy and uses {chosen.value:g}",
        )
    return chosen


def argo_policy(rollout: ArgoRollout, overrides: Mapping[str, MetricKind], draft: Draft) -> None:
    """Fill ``draft.document['policy']`` from a Rollout (see ``docs/import.md``)."""
    inline = [s for s in rollout.steps if s.kind == "analysis" and s.analysis is not None]
    for step in rollout.steps:
        if step.kind not in ("setWeight", "pause", "analysis"):
            draft.note(
                step.cite,
                f"steps[{step.index}].{step.kind}",
                "not modelled: no traffic or check change",
            )
        if step.kind == "pause" and step.pause_s is None:
            draft.note(
                step.cite,
                f"steps[{step.index}].pause",
                "an indefinite pause ({}) waits for a human; "
                "canary-mc assumes the human promotes at once, with no check",
            )
    if rollout.background is not None:
        if inline:
            draft.note(
                inline[0].cite,
                "steps[].analysis",
                "inline analysis steps are not simulated "
                "together with the background analysis; the background analysis is imported",
            )
        analyses = [rollout.background]
        stages, cites = _background_stages(rollout, draft)
        scope = "rollout"
    elif inline:
        analyses = [s.analysis for s in inline if s.analysis is not None]
        stages, cites = _inline_stages(rollout, draft)
        scope = "stage"
    else:
        first = rollout.steps[0].cite if rollout.steps else rollout.name.cite
        raise TranslationError(
            first,
            "spec.strategy.canary",
            "has no analysis (inline or background): there is nothing for canary-mc to check",
        )
    metrics: list[ArgoMetric] = [m for a in analyses for m in a.metrics]
    policy: dict[str, Any] = {}
    draft.document["policy"] = policy
    intervals = [m.interval_s for m in metrics if m.interval_s is not None]
    if intervals:
        interval = _shared(intervals, "interval", draft)
        policy["interval"] = format_go_duration(interval.value)
        draft.cite(("policy", "interval"), interval.cite, interval.field)
    else:
        policy["interval"] = "1m"
        draft.note(
            metrics[0].name.cite, "interval", "single measurements (no interval): one 1m step each"
        )
    limit = _shared([m.failure_limit for m in metrics], "failureLimit", draft)
    if limit.value < 0:
        draft.note(
            limit.cite,
            limit.field,
            "a negative failureLimit disables failing; canary-mc needs "
            "one, so failures are counted with limit 0",
        )
    policy["rule"] = {"kind": "failure_limit", "failure_limit": max(0, limit.value), "scope": scope}
    draft.cite(("policy", "rule", "failure_limit"), limit.cite, limit.field)
    draft.comments[("policy", "rule", "scope")] = (
        "background analysis: one count over the rollout"
        if scope == "rollout"
        else "inline analysis steps: each step's AnalysisRun counts afresh"
    )
    for m in metrics:
        if m.consecutive_error_limit.value != 4 or "default" not in m.consecutive_error_limit.field:
            draft.note(
                m.consecutive_error_limit.cite,
                m.consecutive_error_limit.field,
                "Error measurements (no data) are not counted towards a limit: a step without "
                "data decides as policy.no_data says",
            )
        if m.initial_delay_s is not None and scope == "stage":
            draft.note(
                m.initial_delay_s.cite,
                m.initial_delay_s.field,
                "delays the first measurement; it changes time, not which measurements are taken",
            )
    entries: dict[str, dict[str, Any]] = {}
    banded: list[ArgoMetric] = []
    no_data: dict[str, Sourced[str]] = {}
    stage_limits: dict[tuple[int, str], dict[str, float]] = {}
    for i, analysis in enumerate(analyses):
        for m in analysis.metrics:
            name = m.name.value
            kind = _metric_kind(name, m.query.value if m.query else None, overrides)
            bounds = argo_range(m, draft)
            entry = _metric_entry(name, kind, "absolute")
            limits = {
                k: _limit(v, kind)
                for k, v in (("min", bounds.minimum), ("max", bounds.maximum))
                if v is not None
            }
            if name not in entries:
                entries[name] = {**entry, **limits}
                path = ("policy", "metrics", len(entries) - 1)
                if bounds.inconclusive is not None and m.success is not None:
                    entries[name]["inconclusive"] = {
                        k: _limit(v, kind) for k, v in bounds.inconclusive.items()
                    }
                    banded.append(m)
                    for key in bounds.inconclusive:
                        draft.cite((*path, "inconclusive", key), m.success.cite, m.success.field)
                draft.cite((*path, "name"), m.name.cite, m.name.field)
                draft.comments[(*path, "kind")] = f"{kind.reason} (fix with --metric {name}=KIND)"
                for key in limits:
                    cond = m.failure or m.success
                    if cond is not None:
                        draft.cite((*path, key), cond.cite, cond.field)
                no_data[name] = Sourced(
                    bounds.no_data,
                    (m.success or m.failure or m.name).cite,
                    "condition on an empty result",
                )
            elif limits != {k: entries[name][k] for k in ("min", "max") if k in entries[name]}:
                stage_limits[(i, name)] = limits
    policy["metrics"] = list(entries.values())
    if banded:
        inconclusive = _shared([m.inconclusive_limit for m in banded], "inconclusiveLimit", draft)
        policy["rule"]["inconclusive_limit"] = max(0, inconclusive.value)
        draft.cite(("policy", "rule", "inconclusive_limit"), inconclusive.cite, inconclusive.field)
    modes = {v.value for v in no_data.values()}
    policy["no_data"] = "hold" if len(modes) != 1 else modes.pop()
    if len({v.value for v in no_data.values()}) > 1:
        first = next(iter(no_data.values()))
        draft.note(
            first.cite,
            "conditions",
            "the metrics treat an empty result differently; canary-mc "
            "has one policy.no_data for all and uses hold (no evidence at that step)",
        )
    for (i, name), limits in stage_limits.items():
        if scope == "stage" and i < len(stages):
            stages[i].setdefault("metrics", {})[name] = limits
    policy["stages"] = stages
    for path, (cite, field_name) in cites.items():
        draft.cite(("policy", "stages", *path), cite, field_name)


def _weight_before(rollout: ArgoRollout, index: int) -> Sourced[float] | None:
    for step in reversed(rollout.steps[: index + 1]):
        if step.kind == "setWeight" and step.weight is not None:
            return Sourced(step.weight, step.cite, f"steps[{step.index}].setWeight")
    return None


def _inline_stages(rollout: ArgoRollout, draft: Draft):
    stages: list[dict[str, Any]] = []
    cites: dict[tuple, tuple[Cite, str]] = {}
    names: set[str] = set()
    for step in rollout.steps:
        if step.kind != "analysis" or step.analysis is None:
            continue
        weight = _weight_before(rollout, step.index)
        if weight is None or weight.value <= 0:
            draft.note(
                step.cite,
                f"steps[{step.index}].analysis",
                "runs before any setWeight (no canary traffic); not simulated",
            )
            continue
        counts = [m.count for m in step.analysis.metrics]
        if any(c is None for c in counts):
            raise TranslationError(
                step.cite,
                f"steps[{step.index}].analysis",
                "a metric with an interval and no count never completes, so this step "
                "never ends; give it a count",
            )
        count = _shared([c for c in counts if c is not None], "count", draft, pick=max)
        k = len(stages)
        stages.append(
            {
                "name": _unique_name(f"weight-{weight.value:g}", names),
                "traffic_pct": weight.value,
                "duration_steps": count.value,
            }
        )
        cites[(k, "traffic_pct")] = (weight.cite, weight.field)
        cites[(k, "duration_steps")] = (count.cite, f"{count.field} (steps[{step.index}].analysis)")
    return stages, cites


def _background_stages(rollout: ArgoRollout, draft: Draft):
    """Background analysis: measurements every interval from ``startingStep`` on, each at
    the weight in force at its time (one at a segment's start belongs to that segment; one
    due exactly when the rollout completes is not taken)."""
    analysis: ArgoAnalysis = rollout.background  # type: ignore[assignment]
    metrics = analysis.metrics
    start = rollout.starting_step.value if rollout.starting_step else 0
    intervals = [m.interval_s for m in metrics if m.interval_s is not None]
    if not intervals:
        raise TranslationError(analysis.cite, "analysis", "background metrics need an interval")
    interval = min(i.value for i in intervals)
    delay = max((m.initial_delay_s.value for m in metrics if m.initial_delay_s), default=0.0)
    counts = [m.count.value for m in metrics if m.count is not None]
    segments: list[tuple[Sourced[float], float, Cite]] = []  # weight, seconds, the step
    for step in rollout.steps[start:]:
        weight = _weight_before(rollout, step.index)
        if weight is None or weight.value <= 0:
            continue
        seconds = 0.0
        if step.kind == "pause" and step.pause_s is not None:
            seconds = step.pause_s
        elif step.kind == "analysis" and step.analysis is not None:
            seconds = max(
                (
                    (m.count.value if m.count else 1) * (m.interval_s.value if m.interval_s else 0)
                    for m in step.analysis.metrics
                ),
                default=0.0,
            )
        if seconds > 0:
            segments.append((weight, seconds, step.cite))
    total = sum(s for _, s, _ in segments)
    times = []
    t = delay
    while t < total - 1e-9 and (not counts or len(times) < min(counts)):
        times.append(t)
        t += interval
    if counts and len(times) == min(counts) and t < total:
        draft.note(
            metrics[0].count.cite,
            metrics[0].count.field,  # type: ignore[union-attr]
            f"the analysis ends after {min(counts)} measurements, before the rollout does",
        )
    stages: list[dict[str, Any]] = []
    cites: dict[tuple, tuple[Cite, str]] = {}
    names: set[str] = set()
    begin = 0.0
    for weight, seconds, cite in segments:
        n = sum(begin - 1e-9 <= x < begin + seconds - 1e-9 for x in times)
        begin += seconds
        if n == 0:
            continue
        if stages and stages[-1]["traffic_pct"] == weight.value:
            stages[-1]["duration_steps"] += n
            continue
        k = len(stages)
        stages.append(
            {
                "name": _unique_name(f"weight-{weight.value:g}", names),
                "traffic_pct": weight.value,
                "duration_steps": n,
            }
        )
        cites[(k, "traffic_pct")] = (weight.cite, weight.field)
        cites[(k, "duration_steps")] = (
            cite,
            f"measurements every {format_go_duration(interval)} in this step",
        )
    if not stages:
        raise TranslationError(
            analysis.cite,
            "analysis",
            "the background analysis takes no measurement before the rollout completes",
        )
    if rollout.starting_step is not None:
        cites[(0, "name")] = (rollout.starting_step.cite, rollout.starting_step.field)
    return stages, cites


# --- Flagger ---------------------------------------------------------------------------------


def flagger_policy(
    canary: FlaggerCanary, overrides: Mapping[str, MetricKind], draft: Draft
) -> None:
    """Fill ``draft.document['policy']`` from a Canary's analysis (see ``docs/import.md``)."""
    policy: dict[str, Any] = {
        "rule": {"kind": "cumulative_checks", "threshold": canary.threshold.value},
        "interval": format_go_duration(canary.interval_s.value),
        "no_data": "fail",
    }
    draft.document["policy"] = policy
    draft.cite(("policy", "rule", "threshold"), canary.threshold.cite, canary.threshold.field)
    draft.cite(("policy", "interval"), canary.interval_s.cite, canary.interval_s.field)
    draft.comments[("policy", "no_data")] = "Flagger fails a check whose query returns no values"
    metrics = []
    for i, m in enumerate(canary.metrics):
        name = m.name.value
        if name == BUILTIN_SUCCESS_RATE and name not in overrides:
            kind = MetricKind(
                "success_rate",
                None,
                "percent",
                1.0,
                "Flagger built-in: canary success rate, percent",
            )
        elif name == BUILTIN_DURATION and name not in overrides:
            kind = MetricKind("latency", "p99", None, 1.0, "Flagger built-in: canary P99, ms")
        else:
            kind = _metric_kind(m.template or name, m.query.value if m.query else None, overrides)
        entry = _metric_entry(name, kind, "absolute")
        path = ("policy", "metrics", i)
        draft.cite((*path, "name"), m.name.cite, m.name.field)
        draft.comments[(*path, "kind")] = kind.reason + (
            "" if kind.reason.startswith("Flagger") else f" (fix with --metric {name}=KIND)"
        )
        for key, value in (("min", m.minimum), ("max", m.maximum)):
            if value is not None:
                entry[key] = _limit(value.value, kind)
                draft.cite((*path, key), value.cite, value.field)
        if m.window_s is not None and m.window_s.value != canary.interval_s.value:
            draft.note(
                m.window_s.cite,
                m.window_s.field,
                f"the query window ({format_go_duration(m.window_s.value)}) differs from the "
                "analysis interval; canary-mc measures each check over one interval's requests",
            )
        metrics.append(entry)
    policy["metrics"] = metrics
    stages = []
    if canary.iterations is not None:
        stages.append(
            {"name": "iterations", "traffic_pct": 100.0, "duration_steps": canary.iterations.value}
        )
        draft.cite(
            ("policy", "stages", 0, "duration_steps"),
            canary.iterations.cite,
            canary.iterations.field,
        )
        draft.note(
            canary.iterations.cite,
            canary.iterations.field,
            "A/B or blue/green iterations: the canary's share of traffic is what the match "
            "rules route; canary-mc assumes 100% of the checked requests",
        )
    else:
        for k, w in enumerate(canary.weights):
            stages.append({"name": f"weight-{w:g}", "traffic_pct": w, "duration_steps": 1})
            draft.comments[("policy", "stages", k, "duration_steps")] = (
                "one passing check per weight"
            )
            draft.cite(
                ("policy", "stages", k, "traffic_pct"),
                canary.weights_from.cite,
                canary.weights_from.field,
            )
    draft.note(
        canary.interval_s.cite,
        "analysis",
        "the first tick at weight 0 runs no check, and promotion "
        "runs none either; neither is simulated (time only)",
    )
    policy["stages"] = stages


# --- Kayenta ---------------------------------------------------------------------------------

KAYENTA_SAMPLES = 60
"""Assumed samples per side in one Kayenta analysis: a 1-hour window at 1-minute resolution."""
KAYENTA_WINDOW = "1h"
"""Assumed length of the one analysis window Kayenta judges (one canary-mc step)."""
KAYENTA_TRAFFIC_PCT = 5.0
"""Assumed share of traffic each of the canary and the baseline cluster serves."""
KAYENTA_PASS = 95.0
"""Pass threshold assumed when the config has none (Kayenta has no default)."""


def kayenta_policy(
    config: KayentaConfig, overrides: Mapping[str, MetricKind], draft: Draft
) -> None:
    """Fill ``draft.document['policy']`` from a Kayenta canary config (see ``docs/import.md``)."""
    rule: dict[str, Any] = {
        "kind": "kayenta",
        "samples_per_step": KAYENTA_SAMPLES,
        "confidence": 0.98,
        "tolerance": 0.25,
    }
    policy: dict[str, Any] = {"rule": rule, "interval": KAYENTA_WINDOW, "no_data": "hold"}
    draft.document["policy"] = policy
    draft.comments[("policy", "interval")] = "ASSUMPTION: one judged analysis window"
    draft.comments[("policy", "rule", "samples_per_step")] = (
        "ASSUMPTION: the analysis window's samples per side"
    )
    draft.comments[("policy", "rule", "confidence")] = "NetflixACAJudge's fixed 98%, two-sided"
    draft.comments[("policy", "rule", "tolerance")] = "NetflixACAJudge: 0.25·|Hodges-Lehmann|"
    first = config.metrics[0].name.cite if config.metrics else config.name.cite
    if config.pass_threshold is not None:
        rule["pass_threshold"] = config.pass_threshold.value
        draft.cite(
            ("policy", "rule", "pass_threshold"),
            config.pass_threshold.cite,
            config.pass_threshold.field,
        )
    else:
        rule["pass_threshold"] = KAYENTA_PASS
        draft.note(first, "classifier.scoreThresholds.pass", f"not set; {KAYENTA_PASS:g} assumed")
    if config.group_weights:
        rule["group_weights"] = {g: w.value for g, w in config.group_weights.items()}
        for g, w in config.group_weights.items():
            draft.cite(("policy", "rule", "group_weights", g), w.cite, w.field)
    entries: list[dict[str, Any]] = []
    judged: dict[str, Any] = {}
    for m in config.metrics:
        name = m.name.value
        kind = _metric_kind(name, m.query, overrides)
        if kind.kind == "gauge":
            draft.note(
                m.name.cite,
                m.name.field,
                f"{name} is a gauge: canary-mc samples error rates and latency only for this "
                "rule; not simulated",
            )
            continue
        if kind.kind == "latency" and kind.stat is not None:
            # The samples are of the noise model's latency statistic: the world names it.
            draft.latency_stat = draft.latency_stat or kind.stat
            if kind.stat != draft.latency_stat:
                draft.note(
                    m.name.cite,
                    m.name.field,
                    f"{kind.stat}: the samples are of one latency statistic "
                    f"({draft.latency_stat}, noise.latency_metric)",
                )
            kind = MetricKind("latency", None, None, kind.to_ms, kind.reason)
        path = ("policy", "metrics", len(entries))
        entries.append(_metric_entry(name, kind, "delta"))
        draft.cite((*path, "name"), m.name.cite, m.name.field)
        draft.comments[(*path, "kind")] = f"{kind.reason} (fix with --metric {name}=KIND)"
        own: dict[str, Any] = {"group": m.groups[0] if m.groups else "default"}
        where = ("policy", "rule", "metrics", name)
        if len(m.groups) > 1:
            draft.note(
                m.name.cite,
                f"{name}.groups",
                f"in {len(m.groups)} groups; canary-mc counts it in the first, {m.groups[0]}",
            )
        own["direction"] = m.direction.value
        draft.cite((*where, "direction"), m.direction.cite, m.direction.field)
        for key, value in (
            ("allowed_increase", m.allowed_increase),
            ("allowed_decrease", m.allowed_decrease),
        ):
            if value is not None:
                own[key] = value.value
                draft.cite((*where, key), value.cite, value.field)
        if m.critical is not None and m.critical.value:
            own["critical"] = True
            draft.cite((*where, "critical"), m.critical.cite, m.critical.field)
        if m.must_have_data is not None and m.must_have_data.value:
            draft.note(
                m.must_have_data.cite,
                m.must_have_data.field,
                "simulated samples always have data; NodataFailMetric never occurs",
            )
        judged[name] = own
    policy["metrics"] = entries
    rule["metrics"] = judged
    policy["stages"] = [
        {"name": "canary-analysis", "traffic_pct": KAYENTA_TRAFFIC_PCT, "duration_steps": 1}
    ]
    draft.comments[("policy", "stages", 0, "traffic_pct")] = (
        "ASSUMPTION: each of canary and baseline serves this share"
    )
    if config.marginal_threshold is not None:
        draft.note(
            config.marginal_threshold.cite,
            config.marginal_threshold.field,
            "a marginal score is not a pass: counted as a rollback (Argo's Kayenta provider "
            "calls it Inconclusive and pauses)",
        )
