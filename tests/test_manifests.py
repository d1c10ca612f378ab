"""Importing Argo Rollouts, Flagger and Kayenta manifests, and exporting policies back.

Expected policies are read off the example manifests by hand (see each test's comment),
not copied from the importer's output. Conditions are checked against Python's own
evaluation of the same expression; citations against the source files' lines.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from canary_mc.cli.app import app
from canary_mc.errors import ManifestError
from canary_mc.io.located_yaml import read_located_yaml, read_located_yaml_documents
from canary_mc.manifests import import_manifests
from canary_mc.manifests.export import export_argo, export_flagger
from canary_mc.manifests.expressions import ConditionSyntaxError, read_condition
from canary_mc.manifests.kinds import guess_kind, parse_metric_overrides
from canary_mc.manifests.source import parse_go_duration

EXAMPLES = ROOT / "examples"
INLINE = EXAMPLES / "argo" / "checkout-inline.yaml"
BACKGROUND = EXAMPLES / "argo" / "payments-background.yaml"
FLAGGER = EXAMPLES / "flagger" / "podinfo-canary.yaml"
KAYENTA = EXAMPLES / "kayenta" / "frontend-canary-config.json"
ALL_EXAMPLES = (INLINE, BACKGROUND, FLAGGER, KAYENTA)
runner = CliRunner()


def stages_of(policy):
    return [(s["traffic_pct"], s["duration_steps"]) for s in policy["stages"]]


# --- multi-document YAML ----------------------------------------------------------------------


def test_documents_are_located_in_the_whole_file():
    text = "a: 1\n---\n---\nkind: X\nspec:\n  b: [1, 2]\n"
    docs = read_located_yaml_documents(text, file="f.yaml")
    assert [d.document for d in docs] == [{"a": 1}, {"kind": "X", "spec": {"b": [1, 2]}}]
    assert docs[1].position(("spec", "b", 1)) == (6, 10)
    assert docs[0].position(("a",)) == (1, 4)


def test_json_is_read_with_positions():
    text = '{\n  "metrics": [\n    {"name": "x"}\n  ]\n}\n'
    (doc,) = read_located_yaml_documents(text, file="k.json")
    assert doc.position(("metrics", 0, "name")) == (3, 14)


# --- Argo conditions against Python's evaluation ---------------------------------------------


def python_truth(expr: str, x: float | None):
    """Evaluate an Argo condition with Python on a vector of one value (or none)."""
    code = (
        expr.replace("&&", " and ")
        .replace("||", " or ")
        .replace("!", " not ")
        .replace(" not =", "!=")
        .replace("isNaN", "math.isnan")
        .replace("isInf", "math.isinf")
        .replace("len(result)", "len(vec)")
        .replace("result[0]", "vec[0]")
        .replace("result", "vec[0]")
    )
    try:
        return bool(eval(code, {"math": math, "vec": [] if x is None else [x]}))
    except IndexError:
        return "error"


SHAPES = [
    "result[0] >= {a}",
    "result < {a}",
    "result[0] <= {b} && result[0] >= {a}",
    "isNaN(result[0]) || result[0] >= {a}",
    "len(result) == 0 || result[0] < {b}",
    "!(result[0] > {a})",
    "result[0] < {a} || result[0] > {b}",
    "{a} < result[0] && !(result[0] == {b})",
]


@given(
    shape=st.sampled_from(SHAPES),
    a=st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 2)),
    gap=st.floats(0, 5).map(lambda v: round(v, 2)),
    probes=st.lists(st.floats(-12, 12, allow_nan=False).map(lambda v: round(v, 2)), max_size=8),
)
def test_condition_holds_where_python_says(shape, a, gap, probes):
    b = round(a + gap, 2)
    text = shape.format(a=a, b=b)
    condition = read_condition(text)
    for x in [*probes, a, b]:
        assert condition.holds(x) == python_truth(text, x), (text, x)
    assert {"true": True, "false": False}.get(condition.on_nan, "error") == python_truth(
        text, math.nan
    )
    expected_empty = python_truth(text, None)
    assert {"true": True, "false": False, "error": "error"}[condition.on_empty] == expected_empty


@pytest.mark.parametrize(
    "text", ["result[1] > 2", "foo(result) > 1", "result >", "result", "result > 'a'"]
)
def test_unread_condition_shapes_are_refused(text):
    with pytest.raises(ConditionSyntaxError):
        read_condition(text)


def test_go_durations():
    assert parse_go_duration("1m30s") == 90
    assert parse_go_duration("1.5h") == 5400
    assert parse_go_duration("250ms") == 0.25
    with pytest.raises(ValueError, match="30s"):
        parse_go_duration("5 minutes")


# --- metric kinds -------------------------------------------------------------------------------


def test_kind_guesses_and_overrides():
    assert guess_kind("p99", "histogram_quantile(0.95, rate(x_seconds_bucket[1m]))").stat == "p95"
    assert guess_kind("p99", "histogram_quantile(0.95, rate(x_seconds_bucket[1m]))").to_ms == 1000
    assert guess_kind("ok", 'sum(rate(r{code!~"5.."}[1m]))').kind == "success_rate"
    assert guess_kind("bad", '100 * sum(rate(r{code=~"5.."}[1m]))').unit == "percent"
    assert guess_kind("cpu", "avg(container_cpu_usage_seconds_total)").kind == "gauge"
    kinds = parse_metric_overrides(["a=latency:p50/s", "b=success_rate:percent", "c=gauge"])
    assert (kinds["a"].stat, kinds["a"].to_ms, kinds["b"].unit, kinds["c"].kind) == (
        "p50",
        1000,
        "percent",
        "gauge",
    )
    with pytest.raises(Exception, match="KIND one of"):
        parse_metric_overrides(["a=latencyy"])


# --- the examples, read by hand ----------------------------------------------------------------


def test_argo_inline_analysis():
    # Steps: setWeight 10, analysis (count 5), setWeight 30, pause 2m, analysis, setWeight 60,
    # analysis, pause {}. Template: error-ratio <= 0.02 (args), p99 < 0.4 s; limits 1 and 2.
    imported = import_manifests([INLINE])
    policy = imported.document["policy"]
    assert stages_of(policy) == [(10, 5), (30, 5), (60, 5)]
    assert policy["rule"] == {"kind": "failure_limit", "failure_limit": 1, "scope": "stage"}
    assert policy["interval"] == "1m"
    error, latency = policy["metrics"]
    assert (error["kind"], error["compare"], error["max"]) == ("error_rate", "absolute", 0.02)
    assert (latency["kind"], latency["stat"], latency["max"]) == ("latency", "p99", 400)
    # error-ratio errors on an empty result (hold); the latency guard passes it: they differ.
    assert policy["no_data"] == "hold"
    notes = "\n".join(map(str, imported.notes))
    assert "checkout-inline.yaml:47: steps[7].pause: an indefinite pause" in notes
    assert "failureLimits differ (1, 2)" in notes
    assert "Argo fails a value equal to 0.4" in notes


def test_argo_background_analysis_counts_measurements_per_weight():
    # startingStep 1, initialDelay 2m, interval 2m: measurements at 2, 4, ..., 38 minutes of
    # 4 pauses of 10m at weights 5, 20, 50, 80: 4 in the first, then 5 in each.
    imported = import_manifests([BACKGROUND])
    policy = imported.document["policy"]
    assert stages_of(policy) == [(5, 4), (20, 5), (50, 5), (80, 5)]
    assert policy["rule"] == {
        "kind": "failure_limit",
        "failure_limit": 2,
        "scope": "rollout",
        "inconclusive_limit": 1,  # inconclusiveLimit: 1
    }
    (metric,) = policy["metrics"]
    # failureCondition result[0] < 0.97, successCondition result[0] >= 0.99: [0.97, 0.99)
    # is Inconclusive, written as the band, with no bracket note left.
    assert (metric["kind"], metric["min"]) == ("success_rate", 0.97)
    assert metric["inconclusive"] == {"min": 0.99}
    assert not any("Inconclusive" in str(n) for n in imported.notes)
    assert "payments-background.yaml:50: spec.metrics[0].successCondition" in imported.text


def test_flagger_canary():
    # interval 1m, threshold 5, stepWeight 10 to maxWeight 50; built-ins min 99 %, max 500 ms;
    # error-ratio from its MetricTemplate, a percentage (100 * ...), max 1.5.
    policy = import_manifests([FLAGGER]).document["policy"]
    assert stages_of(policy) == [(10, 1), (20, 1), (30, 1), (40, 1), (50, 1)]
    assert policy["rule"] == {"kind": "cumulative_checks", "threshold": 5}
    assert (policy["interval"], policy["no_data"]) == ("1m", "fail")
    rate, duration, custom = policy["metrics"]
    assert (rate["kind"], rate["unit"], rate["compare"], rate["min"]) == (
        "success_rate",
        "percent",
        "absolute",
        99,
    )
    assert (duration["kind"], duration["stat"], duration["max"]) == ("latency", "p99", 500)
    assert (custom["kind"], custom["unit"], custom["max"]) == ("error_rate", "percent", 1.5)


def test_kayenta_config():
    imported = import_manifests([KAYENTA])
    policy = imported.document["policy"]
    rule = policy["rule"]
    assert (rule["kind"], rule["confidence"], rule["tolerance"]) == ("kayenta", 0.98, 0.25)
    assert (rule["pass_threshold"], rule["group_weights"]) == (90, {"errors": 60, "latency": 40})
    assert [(m["name"], m["kind"], m["compare"]) for m in policy["metrics"]] == [
        ("error-ratio", "error_rate", "delta"),
        ("p95-latency", "latency", "delta"),
    ]
    assert rule["metrics"] == {
        "error-ratio": {"group": "errors", "direction": "increase", "allowed_increase": 1.2,
                        "critical": True},
        "p95-latency": {"group": "latency", "direction": "increase", "allowed_increase": 1.1},
    }  # fmt: skip
    # The rule samples the noise model's latency statistic, so the world draws P95s; the
    # gauge cannot be sampled by the rule, and says so.
    assert imported.document["noise"]["latency_metric"] == "p95"
    assert any("cpu-usage" in str(n) and "not simulated" in str(n) for n in imported.notes)
    assert imported.document["service"]["baseline"] == "matched"


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=lambda p: p.name)
def test_every_citation_points_at_its_field(path):
    imported = import_manifests([path])
    lines = path.read_text().splitlines()
    body = "\n".join(line for line in imported.text.splitlines() if not line.startswith("#"))
    cites = re.findall(rf"{re.escape(str(path))}:(\d+): ([\w.\[\]-]+)", body)
    assert len(cites) >= 5
    for line, field in cites:
        last = re.sub(r"\[\d+\]", "", field).split(".")[-1]
        if last in {"name", "kind"} or "default" in field:
            continue
        source = lines[int(line) - 1]
        assert last in source or "- " in source, (line, field, source)


def test_every_not_modelled_note_is_in_the_file_and_on_stderr(tmp_path):
    out = tmp_path / "x.yaml"
    result = runner.invoke(app, ["import", str(BACKGROUND), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for line in result.stderr.splitlines():
        if line.startswith("not modelled: "):
            assert line.removeprefix("not modelled: ") in text
    assert "# ASSUMPTION" in text or "ASSUMPTION:" in text


def test_service_file_replaces_the_assumptions(tmp_path):
    service = tmp_path / "svc.yaml"
    service.write_text(
        "service: {error_rate: 0.01, latency_ms: 80, requests_per_second: 5}\n"
        "noise: {model: counts}\n"
    )
    out = tmp_path / "x.yaml"
    result = runner.invoke(app, ["import", str(FLAGGER), "--service", str(service), "-o", str(out)])
    assert result.exit_code == 0, result.output
    document = read_located_yaml(out.read_text(), file="x").document
    assert document["service"] == {"error_rate": 0.01, "latency_ms": 80, "requests_per_second": 5}
    assert document["noise"] == {"model": "counts"}
    assert "healthy" in document["scenarios"]


def test_metric_option_overrides_the_guess():
    result = runner.invoke(app, ["import", str(KAYENTA), "--metric", "cpu-usage=latency:mean"])
    assert result.exit_code == 0, result.output
    assert (
        "kind: latency  # given by --metric" in result.stdout
        or "given by --metric" in result.stdout
    )


# --- malformed manifests -----------------------------------------------------------------------


FLAGGER_HEAD = """\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: x}
spec:
  analysis:
"""
ARGO_ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  strategy:
    canary:
      steps:
        - setWeight: 20
"""
BAD = {
    "interval": (
        FLAGGER_HEAD + "    interval: 5x\n    stepWeight: 10\n    metrics: []\n",
        "bad.yaml:6:15: spec.analysis.interval: is not a duration such as 30s, 5m or 1h30m, "
        "got '5x'",
    ),
    "range": (
        FLAGGER_HEAD + "    stepWeight: 10\n    metrics:\n      - name: request-duration\n"
        "        thresholdRange: {min: 3, max: 1}\n",
        "bad.yaml:9:25: spec.analysis.metrics[0].thresholdRange: min 3 is above max 1",
    ),
    "template": (
        ARGO_ROLLOUT + "        - analysis:\n            templates:\n"
        "              - templateName: missing\n",
        "bad.yaml:11:31: spec.strategy.canary.steps[1].analysis.templates[0].templateName: "
        "names no AnalysisTemplate in the files given (known: none)",
    ),
    "condition": (
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\n"
        "spec:\n  metrics:\n    - name: m\n      successCondition: result[0] >=\n"
        "      provider: {prometheus: {query: q}}\n---\n"
        + ARGO_ROLLOUT
        + "        - analysis: {templates: [{templateName: t}]}\n",
        "bad.yaml:7:25: spec.metrics[0].successCondition: cannot be read (ends too early): "
        "'result[0] >='",
    ),
    "yaml": ("kind: [unclosed\n", "bad.yaml:2:1: invalid YAML"),
    "two ranges": (
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\n"
        "spec:\n  metrics:\n    - name: m\n      count: 1\n"
        "      successCondition: result[0] < 0.1 || result[0] > 0.9\n"
        "      provider: {prometheus: {query: q}}\n---\n"
        + ARGO_ROLLOUT
        + "        - analysis: {templates: [{templateName: t}]}\n",
        "bad.yaml:8:25: spec.metrics[0].successCondition: passes on more than one range of "
        "values; canary-mc's check is one range (min, max)",
    ),
    "two policies": (
        FLAGGER_HEAD
        + "    stepWeight: 5\n    metrics: []\n---\n"
        + FLAGGER_HEAD
        + "    stepWeight: 5\n    metrics: []\n",
        "must hold exactly one canary policy",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_manifests_exit_2_with_located_messages(case, tmp_path, monkeypatch):
    text, message = BAD[case]
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(text)
    result = runner.invoke(app, ["import", "bad.yaml"])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


# --- export, and import of the export ---------------------------------------------------------


def normal_form(policy):
    """What decides: weights, steps, limits per stage and metric, rule, interval, no_data."""
    metrics = {m["name"]: m for m in policy["metrics"]}
    stages = []
    for s in policy["stages"]:
        own = s.get("metrics") or {}
        limits = {
            name: (
                own.get(name, {}).get("min", m.get("min")),
                own.get(name, {}).get("max", m.get("max")),
            )
            for name, m in metrics.items()
        }
        stages.append((float(s["traffic_pct"]), s["duration_steps"], limits))
    kinds = {
        n: (m["kind"], m.get("stat"), m.get("unit", "fraction"), m["compare"])
        for n, m in metrics.items()
    }
    return policy["rule"], policy.get("interval"), policy.get("no_data", "hold"), kinds, stages


@pytest.mark.parametrize(
    ("path", "export"),
    [(INLINE, export_argo), (BACKGROUND, export_argo), (FLAGGER, export_flagger)],
    ids=["argo-inline", "argo-background", "flagger"],
)
def test_import_of_export_gives_back_the_policy(path, export, tmp_path):
    first = import_manifests([path])
    manifest = tmp_path / "exported.yaml"
    manifest.write_text(export(read_located_yaml(first.text, file="e.yaml"), file="e.yaml"))
    again = import_manifests([manifest])
    assert normal_form(again.document["policy"]) == normal_form(first.document["policy"])


def test_export_refuses_what_the_target_cannot_express(tmp_path):
    policy = import_manifests([FLAGGER]).text
    ztest = policy.replace("kind: cumulative_checks", "kind: ztest")
    with pytest.raises(
        ManifestError,
        match=r"e.yaml:\d+:\d+: policy.rule.kind: rule 'ztest' cannot be written as a Flagger",
    ):
        export_flagger(read_located_yaml(ztest, file="e.yaml"), file="e.yaml")
    delta = policy.replace("compare: absolute", "compare: delta", 1)
    with pytest.raises(
        ManifestError, match="compare: delta cannot be written as a Flagger threshold"
    ):
        export_flagger(read_located_yaml(delta, file="e.yaml"), file="e.yaml")
    held = policy.replace("no_data: fail", "no_data: hold")
    with pytest.raises(ManifestError, match="Flagger fails a check whose query returns no data"):
        export_flagger(read_located_yaml(held, file="e.yaml"), file="e.yaml")
    with pytest.raises(ManifestError, match="rule 'cumulative_checks' cannot be written as Argo"):
        export_argo(read_located_yaml(policy, file="e.yaml"), file="e.yaml")


def test_export_command_writes_the_manifest_and_refuses_with_exit_2(tmp_path):
    experiment = tmp_path / "podinfo.yaml"
    assert runner.invoke(app, ["import", str(FLAGGER), "-o", str(experiment)]).exit_code == 0
    out = tmp_path / "canary.yaml"
    result = runner.invoke(app, ["export", "flagger", str(experiment), "-o", str(out)])
    assert result.exit_code == 0, result.output
    kinds = [d.document["kind"] for d in read_located_yaml_documents(out.read_text(), file="o")]
    assert kinds == ["MetricTemplate", "Canary"]
    result = runner.invoke(app, ["export", "argo", str(experiment)])
    assert result.exit_code == 2
    assert "policy.rule.kind: rule 'cumulative_checks' cannot be written as Argo" in result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(experiment.read_text().replace("threshold: 5", "threshold: -5"))
    result = runner.invoke(app, ["export", "flagger", str(broken)])
    assert result.exit_code == 2
    assert re.search(r"broken.yaml:\d+:\d+: policy.rule.threshold", result.stderr)


def flagger_doc(analysis: str) -> str:
    return (
        FLAGGER_HEAD
        + analysis
        + ("    metrics:\n      - {name: request-success-rate, thresholdRange: {min: 99}}\n")
    )


@pytest.mark.parametrize(
    ("analysis", "weights"),
    [
        # stepWeights: one stage per entry; stepWeight wins when both are set (noted).
        ("    stepWeights: [1, 5, 25, 50]\n", [1, 5, 25, 50]),
        ("    stepWeight: 20\n    maxWeight: 50\n    stepWeights: [1, 2]\n", [20, 40, 60]),
        # No maxWeight: Flagger's default 100.
        ("    stepWeight: 30\n", [30, 60, 90, 100]),
    ],
)
def test_flagger_weights(analysis, weights, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(flagger_doc(analysis))
    imported = import_manifests([path])
    assert [s["traffic_pct"] for s in imported.document["policy"]["stages"]] == weights
    assert imported.document["policy"]["rule"]["threshold"] == 1  # Flagger's default


def test_flagger_iterations_is_one_stage_with_a_note(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(flagger_doc("    iterations: 10\n    threshold: 3\n"))
    imported = import_manifests([path])
    assert stages_of(imported.document["policy"]) == [(100, 10)]
    assert any("iterations" in str(n) for n in imported.notes)


def test_argo_inline_metric_without_count_never_ends(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        ARGO_ROLLOUT + "        - analysis: {templates: [{templateName: t}]}\n---\n"
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\n"
        "spec:\n  metrics:\n    - name: errors\n      interval: 1m\n"
        "      successCondition: result[0] < 0.1\n      provider: {prometheus: {query: q}}\n"
    )
    with pytest.raises(ManifestError, match=r"r.yaml:9:11: steps\[1\].analysis: a metric with"):
        import_manifests([path])


def test_kayenta_rule_names_only_policy_metrics():
    from canary_mc.errors import ExperimentFileError
    from canary_mc.io.experiment_file import parse_experiment

    text = import_manifests([KAYENTA]).text
    parse_experiment(text, file="k.yaml")
    bad = text.replace("      p95-latency:\n        group", "      p95-latenzy:\n        group")
    with pytest.raises(ExperimentFileError, match=r"k.yaml:\d+:\d+: policy.rule.metrics.p95-latenzy"
                       r": names no metric of policy.metrics"):  # fmt: skip
        parse_experiment(bad, file="k.yaml")


def test_kayenta_import_of_export_gives_back_the_policy(tmp_path):
    experiment = tmp_path / "k.yaml"
    experiment.write_text(import_manifests([KAYENTA]).text)
    result = runner.invoke(
        app, ["export", "kayenta", str(experiment), "-o", str(tmp_path / "k.json")]
    )
    assert result.exit_code == 0, result.output
    first = import_manifests([KAYENTA]).document
    again = import_manifests([tmp_path / "k.json"]).document
    assert again["policy"] == first["policy"]
    assert again["noise"]["latency_metric"] == "p95"  # the samples' statistic travels too
    flagger = tmp_path / "f.yaml"
    flagger.write_text(import_manifests([FLAGGER]).text)
    refused = runner.invoke(app, ["export", "kayenta", str(flagger)])
    assert refused.exit_code == 2
    assert "rule 'cumulative_checks' cannot be written as a Kayenta canary config" in refused.stderr
