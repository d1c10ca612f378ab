"""Write an experiment's policy back as Argo Rollouts or Flagger manifests.

``export_argo``: ``Rollout`` canary steps with ``AnalysisTemplate`` s (inline analysis per
stage under ``failure_limit`` with ``scope: stage``, a background analysis under
``scope: rollout``). ``export_flagger``: a ``Canary``'s ``spec.analysis`` with
``MetricTemplate`` s for custom metrics. A policy the target cannot express is refused
with a located message naming the part (:class:`~canary_mc.errors.ManifestError`).
Each metric's kind is written as an annotation (``canary-mc.io/metric-kinds``) that
``canary-mc import`` reads back, so importing an export gives back the same policy.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from canary_mc.errors import ManifestError, Problem
from canary_mc.io.experiment_file import load_experiment
from canary_mc.io.located_yaml import LocatedDocument, dotted, read_located_yaml
from canary_mc.manifests.flagger import BUILTIN_DURATION, BUILTIN_SUCCESS_RATE
from canary_mc.manifests.source import format_go_duration, parse_go_duration
from canary_mc.model.rules import flagger_weights

KINDS_ANNOTATION = "canary-mc.io/metric-kinds"
"""Annotation holding ``name=kind[:detail]`` for every exported metric, comma-separated."""

DEFAULT_INTERVAL = "1m"


@dataclass
class _Refusals:
    file: str
    located: LocatedDocument
    problems: list[Problem] = field(default_factory=list)

    def refuse(self, loc: tuple, message: str) -> None:
        line, col = self.located.position(loc)
        self.problems.append(Problem(self.file, line, col, dotted(loc), message))

    def raise_any(self) -> None:
        if self.problems:
            raise ManifestError(self.problems)


def _number(value: float) -> str:
    return f"{float(value):.12g}"


def _kind_spec(metric: Mapping[str, Any]) -> str:
    kind = metric["kind"]
    if kind == "latency":
        return f"latency:{metric.get('stat') or 'p99'}"
    if kind in ("error_rate", "success_rate"):
        return f"{kind}:{metric.get('unit') or 'fraction'}"
    return kind


def _query(metric: Mapping[str, Any], selector: str) -> str:
    """A PromQL query of the metric's kind on the canary (edit to match your labels)."""
    kind, name = metric["kind"], metric["name"]
    scale = "100 * " if metric.get("unit") == "percent" else ""
    if kind == "error_rate":
        return (
            f'{scale}sum(rate(http_requests_total{{{selector},code=~"5.."}}[{{{{interval}}}}]))'
            f" / sum(rate(http_requests_total{{{selector}}}[{{{{interval}}}}]))"
        )
    if kind == "success_rate":
        return (
            f'{scale}sum(rate(http_requests_total{{{selector},code!~"5.."}}[{{{{interval}}}}]))'
            f" / sum(rate(http_requests_total{{{selector}}}[{{{{interval}}}}]))"
        )
    if kind == "latency":
        stat = metric.get("stat") or "p99"
        if stat == "mean":
            window = "[{{interval}}]"
            return (
                f"sum(rate(http_request_duration_milliseconds_sum{{{selector}}}{window}))"
                f" / sum(rate(http_request_duration_milliseconds_count{{{selector}}}{window}))"
            )
        level = {"p50": "0.5", "p95": "0.95", "p99": "0.99", "p99.9": "0.999"}[stat]
        return (
            f"histogram_quantile({level}, sum by (le) "
            f"(rate(http_request_duration_milliseconds_bucket{{{selector}}}[{{{{interval}}}}])))"
        )
    return f"avg({name.replace('-', '_')}{{{selector}}})"


def _dump(documents: Sequence[Mapping[str, Any]], header: str) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.representer.ignore_aliases = lambda *_: True
    buffer = io.StringIO()
    yaml.dump_all(list(documents), buffer)
    return header + buffer.getvalue()


def _metrics_checked(policy: Mapping[str, Any], r: _Refusals, target: str) -> list[dict[str, Any]]:
    metrics = policy.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        r.refuse(
            ("policy",),
            f"lists no policy.metrics; {target} checks named metrics (the "
            "error_threshold shorthand compares canary with baseline, which a single query "
            "condition cannot express)",
        )
        return []
    for i, m in enumerate(metrics):
        if m.get("compare", "delta") != "absolute":
            r.refuse(
                ("policy", "metrics", i, "compare"),
                f"compare: {m.get('compare', 'delta')} cannot be written as a {target} "
                "threshold on one query (the canary's own value); use compare: absolute",
            )
    return metrics


def _rule(policy: Mapping[str, Any], r: _Refusals, native: str, why: str) -> dict[str, Any]:
    """The policy's rule as a mapping; refused unless ``threshold`` or the target's own."""
    rule = policy.get("rule", "threshold")
    rule = {"kind": rule} if isinstance(rule, str) else dict(rule)
    if rule.get("kind") not in ("threshold", native):
        r.refuse(
            ("policy", "rule", "kind"),
            f"rule {rule.get('kind')!r} cannot be written as {why} (use threshold or {native})",
        )
    return rule


def _interval(policy: Mapping[str, Any]) -> float:
    return parse_go_duration(str(policy.get("interval") or DEFAULT_INTERVAL))


def _stage_steps(stage: Mapping[str, Any], interval_s: float) -> int:
    if "duration_steps" in stage:
        return int(stage["duration_steps"])
    if "duration" in stage:
        return round(parse_go_duration(str(stage["duration"])) / interval_s)
    return 1


def _limits(
    metric: Mapping[str, Any], stage: Mapping[str, Any]
) -> tuple[float | None, float | None]:
    own = (stage.get("metrics") or {}).get(metric["name"]) or {}
    lo = own.get("min", metric.get("min"))
    hi = own.get("max", metric.get("max"))
    return lo, hi


def _argo_condition(lo: float | None, hi: float | None, no_data: str, *, failure=False) -> str:
    """An Argo success condition: the value in ``[lo, hi]``; with ``failure``, the failure
    condition: the value strictly outside it. An empty result decides as ``no_data``."""
    low, high, join = ("<", ">", " || ") if failure else (">=", "<=", " && ")
    parts = []
    if lo is not None:
        parts.append(f"result[0] {low} {_number(lo)}")
    if hi is not None:
        parts.append(f"result[0] {high} {_number(hi)}")
    body = join.join(parts)
    if no_data == "hold":
        return body
    guard = "len(result) == 0 || " if (no_data == "pass") != failure else "len(result) > 0 && "
    if len(parts) > 1 and join not in guard:
        body = f"({body})"
    return guard + body


def export_argo(document: LocatedDocument, *, file: str) -> str:
    """The policy of an experiment document as a Rollout fragment and AnalysisTemplates."""
    r = _Refusals(file, document)
    policy = document.document.get("policy") or {}
    rule = _rule(
        policy,
        r,
        "failure_limit",
        "Argo analysis: Argo counts failed measurements against failureLimit",
    )
    kind = rule.get("kind")
    if rule.get("consecutive"):
        r.refuse(("policy", "rule", "consecutive"), "Argo counts failures in total, not in a row")
    metrics = _metrics_checked(policy, r, "Argo")
    for i, m in enumerate(metrics):
        if m.get("min") is None and m.get("max") is None:
            r.refuse(("policy", "metrics", i), "has no min or max: an Argo condition needs a limit")
    r.raise_any()
    scope = rule.get("scope", "stage") if kind == "failure_limit" else "stage"
    failure_limit = int(rule.get("failure_limit", 0)) if kind == "failure_limit" else 0
    inconclusive_limit = int(rule.get("inconclusive_limit", 0))
    interval_s = _interval(policy)
    no_data = policy.get("no_data", "hold")
    stages = policy["stages"]
    name = str(document.document.get("name", "canary"))
    kinds = ",".join(f"{m['name']}={_kind_spec(m)}" for m in metrics)

    def template(template_name: str, stage: Mapping[str, Any], count: int | None) -> dict[str, Any]:
        entries = []
        for m in metrics:
            lo, hi = _limits(m, stage)
            entry: dict[str, Any] = {"name": m["name"], "interval": format_go_duration(interval_s)}
            if count is not None:
                entry["count"] = count
            entry["failureLimit"] = failure_limit
            band = m.get("inconclusive")
            if band:
                # Failed outside [lo, hi]; Successful inside the band; Inconclusive between.
                entry["inconclusiveLimit"] = inconclusive_limit
                entry["successCondition"] = _argo_condition(
                    band.get("min"), band.get("max"), no_data
                )
                entry["failureCondition"] = _argo_condition(lo, hi, no_data, failure=True)
            else:
                entry["successCondition"] = _argo_condition(lo, hi, no_data)
            entry["provider"] = {
                "prometheus": {
                    "address": "http://prometheus.monitoring:9090",
                    "query": _query(m, 'service="{{args.service}}"').replace(
                        "{{interval}}", format_go_duration(interval_s)
                    ),
                }
            }
            entries.append(entry)
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": {"name": template_name, "annotations": {KINDS_ANNOTATION: kinds}},
            "spec": {"args": [{"name": "service"}], "metrics": entries},
        }

    args = [{"name": "service", "value": f"{name}-canary"}]
    steps: list[dict[str, Any]] = []
    templates: list[dict[str, Any]] = []
    canary: dict[str, Any] = {}
    if scope == "rollout":
        for i, stage in enumerate(stages):
            if stage.get("metrics"):
                r.refuse(
                    ("policy", "stages", i, "metrics"),
                    "per-stage limits cannot be written in "
                    "one background analysis (one template for the whole rollout)",
                )
        r.raise_any()
        templates.append(template(f"{name}-analysis", {}, None))
        canary["analysis"] = {"templates": [{"templateName": f"{name}-analysis"}], "args": args}
        for stage in stages:
            steps.append({"setWeight": _weight(stage["traffic_pct"])})
            seconds = _stage_steps(stage, interval_s) * interval_s
            steps.append({"pause": {"duration": format_go_duration(seconds)}})
    else:
        made: dict[tuple, str] = {}
        for stage in stages:
            steps.append({"setWeight": _weight(stage["traffic_pct"])})
            count = _stage_steps(stage, interval_s)
            key = (count, tuple(_limits(m, stage) for m in metrics))
            if key not in made:
                made[key] = f"{name}-analysis-{len(made) + 1}"
                templates.append(template(made[key], stage, count))
            steps.append({"analysis": {"templates": [{"templateName": made[key]}], "args": args}})
    canary["steps"] = steps
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {"strategy": {"canary": canary}},
    }
    header = (
        f"# Exported by canary-mc from {file}: merge spec.strategy.canary into your Rollout.\n"
        "# The queries are generic PromQL on the canary: edit the metric names and labels.\n"
    )
    return _dump([rollout, *templates], header)


def _weight(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def export_flagger(document: LocatedDocument, *, file: str) -> str:
    """The policy of an experiment document as a Canary ``spec.analysis`` and MetricTemplates."""
    r = _Refusals(file, document)
    policy = document.document.get("policy") or {}
    rule = _rule(
        policy,
        r,
        "cumulative_checks",
        "a Flagger analysis: Flagger counts failed checks against threshold",
    )
    if policy.get("no_data", "hold") != "fail":
        r.refuse(
            ("policy", "no_data") if "no_data" in policy else ("policy",),
            f"no_data: {policy.get('no_data', 'hold')} cannot be written: Flagger fails a "
            "check whose query returns no data (set no_data: fail)",
        )
    metrics = _metrics_checked(policy, r, "Flagger")
    stages = policy.get("stages") or []
    interval_s = _interval(policy)
    for i, stage in enumerate(stages):
        if stage.get("metrics"):
            r.refuse(
                ("policy", "stages", i, "metrics"),
                "Flagger's thresholdRange is one range for every weight",
            )
        if _stage_steps(stage, interval_s) != 1:
            r.refuse(
                ("policy", "stages", i),
                "Flagger moves to the next weight after one passing "
                "check; a stage of several steps cannot be written (use one step per stage)",
            )
    r.raise_any()
    if "step_weight" in rule:  # the template-stage form: weights come from the rule
        weights = flagger_weights(float(rule["step_weight"]), float(rule.get("max_weight", 100)))
    else:
        weights = [float(s["traffic_pct"]) for s in stages]
    name = str(document.document.get("name", "canary"))
    analysis: dict[str, Any] = {
        "interval": format_go_duration(interval_s),
        "threshold": int(rule.get("threshold", 1)),
    }
    step = weights[0]
    if (
        all(
            abs(w - step * (k + 1)) < 1e-9 or (w == 100 and k == len(weights) - 1)
            for k, w in enumerate(weights)
        )
        and flagger_weights(step, weights[-1]) == weights
    ):
        analysis["maxWeight"] = _weight(weights[-1])
        analysis["stepWeight"] = _weight(step)
    else:
        analysis["stepWeights"] = [_weight(w) for w in weights]
    entries, templates = [], []
    kinds = []
    for m in metrics:
        lo, hi = m.get("min"), m.get("max")
        builtin = (
            m["name"] == BUILTIN_SUCCESS_RATE
            and m["kind"] == "success_rate"
            and m.get("unit") == "percent"
        ) or (
            m["name"] == BUILTIN_DURATION
            and m["kind"] == "latency"
            and (m.get("stat") or "p99") == "p99"
        )
        entry: dict[str, Any] = {"name": m["name"]}
        if not builtin:
            entry["templateRef"] = {"name": m["name"]}
            kinds.append(f"{m['name']}={_kind_spec(m)}")
            templates.append(
                {
                    "apiVersion": "flagger.app/v1beta1",
                    "kind": "MetricTemplate",
                    "metadata": {
                        "name": m["name"],
                        "annotations": {KINDS_ANNOTATION: f"{m['name']}={_kind_spec(m)}"},
                    },
                    "spec": {
                        "provider": {"type": "prometheus", "address": "http://prometheus:9090"},
                        "query": _query(m, 'destination_workload="{{ target }}"').replace(
                            "{{interval}}", "{{ interval }}"
                        ),
                    },
                }
            )
        entry["thresholdRange"] = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
        entry["interval"] = format_go_duration(interval_s)
        entries.append(entry)
    analysis["metrics"] = entries
    canary = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name},
        "spec": {"analysis": analysis},
    }
    header = (
        f"# Exported by canary-mc from {file}: merge spec.analysis into your Canary.\n"
        "# Custom metrics' queries are generic PromQL: edit the metric names and labels.\n"
    )
    return _dump([*templates, canary], header)


def export_kayenta(document: LocatedDocument, *, file: str) -> str:
    """The policy of an experiment document as a Kayenta canary config (JSON).

    Needs ``rule: {kind: kayenta}``. The window, its samples and the traffic are not part
    of a canary config (Spinnaker's canary stage sets them), so they are not written.
    """
    r = _Refusals(file, document)
    policy = document.document.get("policy") or {}
    rule = policy.get("rule", "threshold")
    rule = {"kind": rule} if isinstance(rule, str) else dict(rule)
    if rule.get("kind") != "kayenta":
        r.refuse(
            ("policy", "rule", "kind"),
            f"rule {rule.get('kind')!r} cannot be written as a Kayenta canary config: "
            "Kayenta judges with its own classifier (use kind: kayenta)",
        )
    for key, kayenta in (("confidence", 0.98), ("tolerance", 0.25)):
        if rule.get(key, kayenta) != kayenta:
            r.refuse(("policy", "rule", key), f"Kayenta's judge fixes {key} at {kayenta:g}")
    metrics = policy.get("metrics") or []
    r.raise_any()
    own = rule.get("metrics") or {}
    entries = []
    for m in metrics:
        config = own.get(m["name"]) or {}
        canary: dict[str, Any] = {"direction": config.get("direction", m.get("direction"))}
        if canary["direction"] is None:
            canary["direction"] = "decrease" if m["kind"] == "success_rate" else "increase"
        effect = {
            key: config[name]
            for key, name in (
                ("allowedIncrease", "allowed_increase"),
                ("allowedDecrease", "allowed_decrease"),
            )
            if name in config
        }
        if effect:
            canary["effectSize"] = effect
        if config.get("critical"):
            canary["critical"] = True
        # The samples' latency statistic is the noise model's when the metric names none.
        stat = m.get("stat") or (document.document.get("noise") or {}).get("latency_metric")
        query = _query({**m, "stat": stat} if stat else m, "${scope}")
        query = query.replace("{{interval}}", "1m")
        entries.append(
            {
                "name": m["name"],
                "query": {"type": "prometheus", "customInlineTemplate": f"PromQL:{query}"},
                "groups": [config.get("group", "default")],
                "analysisConfigurations": {"canary": canary},
                "scopeName": "default",
            }
        )
    pass_threshold = rule.get("pass_threshold", 95.0)
    config = {
        "name": str(document.document.get("name", "canary")),
        "description": f"Exported by canary-mc from {file}; edit the queries.",
        "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
        "metrics": entries,
        "templates": {},
        "classifier": {
            "groupWeights": dict(rule.get("group_weights") or {}),
            # canary-mc rolls back on anything below pass: marginal is not a pass.
            "scoreThresholds": {"pass": pass_threshold, "marginal": pass_threshold},
        },
    }
    return json.dumps(config, indent=2) + "\n"


def export_experiment(path: Path, *, target: str) -> str:
    """Validate an experiment file, then write its policy for ``target``.

    ``target`` is ``argo``, ``flagger`` or ``kayenta``.
    """
    load_experiment(path)  # every schema problem located, before anything is written
    text = Path(path).read_text(encoding="utf-8")
    located = read_located_yaml(text, file=str(path))
    writers = {"argo": export_argo, "flagger": export_flagger, "kayenta": export_kayenta}
    return writers[target](located, file=str(path))
