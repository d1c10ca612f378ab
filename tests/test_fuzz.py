"""Fuzzing the edge (issue 18): no input makes canary-mc print a traceback.

``validate`` gets hypothesis-generated YAML documents (nested mappings, lists and scalars
of every type, and valid experiments with a part replaced), and every numeric field of
every model gets extreme values in ``validate``, ``trace``, ``run`` and a sweep. The
invariant: exit 0 or 2, never a traceback, in bounded time. About 20 s of ``make test``;
``CANARY_FUZZ_EXAMPLES=2000`` runs more.
"""

from __future__ import annotations

import datetime
import os
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML
from typer.testing import CliRunner

from canary_mc.cli.app import app
from canary_mc.engine.cost import seconds_per_rollout_step
from canary_mc.io.experiment_file import parse_experiment
from canary_mc.model import Experiment

EXAMPLES = int(os.environ.get("CANARY_FUZZ_EXAMPLES", "0"))
runner = CliRunner()
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]  # a failure is reported as found
fuzz = settings(
    max_examples=EXAMPLES or 150,
    deadline=datetime.timedelta(seconds=20),
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

BASE = {
    "name": "fuzz",
    "seed": 1,
    "rollouts": 100,
    "policy": {
        "stages": [
            {"name": "a", "traffic_pct": 10, "duration_steps": 2, "error_threshold": 0.02},
            {"name": "b", "traffic_pct": 100, "duration_steps": 1, "error_threshold": 0.01},
        ],
    },
    "service": {"error_rate": 0.01, "latency_ms": 100, "requests_per_step": 500},
    "noise": {"model": "counts"},
    "scenarios": {"bad": {"error_delta": 0.02, "onset_step": 1}},
}


def dump(document: object) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    from io import StringIO

    stream = StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def assert_no_traceback(result) -> None:
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["threshold", "counts", "gaussian", "healthy", "a", "..", "\x00", "1e400"]),
)
keys = st.one_of(
    st.sampled_from(
        [
            "name",
            "seed",
            "rollouts",
            "policy",
            "stages",
            "rule",
            "kind",
            "service",
            "noise",
            "model",
            "scenarios",
            "sweep",
            "grid",
            "zip",
            "start",
            "stop",
            "num",
            "step",
            "error_threshold",
            "traffic_pct",
            "duration_steps",
            "requests_per_step",
        ]
    ),
    st.text(max_size=8),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=25,
)


def replace_part(document: dict, path: list[str | int], value: object) -> dict:
    """A copy of a nested document with one part (found along ``path``) replaced."""
    if not path:
        return value  # type: ignore[return-value]
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        copy = dict(document)
        copy[head] = replace_part(copy.get(head, {}), rest, value) if rest else value
        return copy
    return value  # type: ignore[return-value]


PARTS = [
    [],
    ["policy"],
    ["policy", "stages"],
    ["policy", "rule"],
    ["service"],
    ["noise"],
    ["scenarios"],
    ["scenarios", "bad"],
    ["sweep"],
    ["sweep", "grid"],
    ["name"],
]


@fuzz
@given(
    document=st.one_of(
        documents,
        st.builds(replace_part, st.just(BASE), st.sampled_from(PARTS), documents),
    )
)
def test_validate_survives_any_document(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("fuzz") / "doc.yaml"
    path.write_text(dump(document), encoding="utf-8")
    assert_no_traceback(runner.invoke(app, ["validate", str(path)]))


@fuzz
@given(text=st.text(max_size=200))
def test_validate_survives_any_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "doc.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    assert_no_traceback(runner.invoke(app, ["validate", str(path)]))


# --- extreme values in every numeric field ------------------------------------------------


def _unwrap(annotation: object) -> list[object]:
    """The concrete types an annotation allows (Annotated, Optional and unions opened)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def numeric_fields(
    model: type[BaseModel], prefix: tuple[str | int, ...] = (), context: dict | None = None
) -> Iterator[tuple[tuple[str | int, ...], dict]]:
    """Every numeric field reachable from ``model``: its path in a document, and the
    section settings (rule kind, noise model) under which it is meaningful."""
    for name, field in model.model_fields.items():
        if name == "sweep":  # its ranges are fuzzed by the document tests
            continue
        for kind in _unwrap(field.annotation):
            here = (*prefix, name)
            if kind in (int, float):
                yield here, dict(context or {})
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                tag = kind.model_fields.get("kind") or kind.model_fields.get("model")
                extra = dict(context or {})
                if tag is not None:
                    extra[here] = typing.get_args(tag.annotation)[0]
                yield from numeric_fields(kind, here, extra)
            elif typing.get_origin(kind) in (tuple, dict):  # policy.stages, scenarios
                item = _unwrap(typing.get_args(kind)[-1 if typing.get_origin(kind) is dict else 0])
                if isinstance(item[0], type) and issubclass(item[0], BaseModel):
                    key = 0 if typing.get_origin(kind) is tuple else "bad"
                    yield from numeric_fields(item[0], (*here, key), context)


FIELDS = sorted(
    {(path, tuple(sorted(ctx.items()))) for path, ctx in numeric_fields(Experiment)}, key=str
)

EXTREMES = [
    0,
    -1,
    1,
    2,
    2000,
    2001,
    10**9,
    10**9 + 1,
    2**53,
    2**63 - 1,
    2**63,
    -(2**63),
    10**30,
    0.0,
    -0.0,
    5e-324,
    1e-320,
    1e-300,
    1e-12,
    1e-9,
    0.05,
    0.049,
    0.5,
    0.999999999999,
    0.9999999999999999,
    1.0000000000000002,
    99.99,
    100.0,
    100.5,
    1e9,
    1.0000001e9,
    1e18,
    1e300,
    1e308,
    -1e308,
    1.7976931348623157e308,
]


def build(path: tuple[str | int, ...], context: tuple, value: object) -> dict:
    document = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    document["policy"] = {**BASE["policy"]}
    document["scenarios"] = {"bad": dict(BASE["scenarios"]["bad"])}
    for section, tag in context:
        if section == ("noise",) and tag == "gaussian":
            document["noise"] = {"error_sigma": 0.005, "latency_sigma_ms": 10}
            document["service"] = {"error_rate": 0.01, "latency_ms": 100}
        elif section == ("policy", "rule"):
            document["policy"]["rule"] = {"kind": tag}
    node = document
    for part in path[:-1]:
        if isinstance(node, dict):
            node[part] = (
                dict(node[part]) if isinstance(node.get(part), dict) else node.get(part, {})
            )
            if isinstance(node[part], list):
                node[part] = [dict(x) for x in node[part]]
        node = node[part]
    node[path[-1]] = value
    return document


def affordable(document: dict) -> bool:
    """Whether ``run`` of the document takes well under a second, so it may run here."""
    try:
        experiment = parse_experiment(dump(document))
    except Exception:  # invalid: run refuses it at once
        return True
    policy, noise = experiment.policy, experiment.noise
    work = 4096 * policy.max_steps * len(experiment.evaluated_scenarios)
    return work * seconds_per_rollout_step(policy, noise) < 0.5


def test_every_numeric_field_is_found():
    paths = {".".join(map(str, p)) for p, _ in FIELDS}
    for expected in (
        "seed",
        "rollouts",
        "policy.stages.0.duration_steps",
        "service.requests_per_step",
        "scenarios.bad.onset_step",
        "policy.rule.samples_per_step",
        "policy.rule.alpha",
        "policy.rule.step_weight",
        "noise.error_dispersion",
        "noise.error_sigma",
    ):
        assert expected in paths


@settings(
    max_examples=EXAMPLES or 40,
    deadline=datetime.timedelta(seconds=30),
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(FIELDS), value=st.sampled_from(EXTREMES))
def test_extreme_values_in_every_numeric_field(tmp_path_factory, field, value):
    path, context = field
    document = build(path, context, value)
    folder = tmp_path_factory.mktemp("extreme")
    file = folder / "exp.yaml"
    file.write_text(dump(document), encoding="utf-8")
    dotted = ".".join(map(str, path))
    swept = {**document, "sweep": {"grid": {dotted: [value]}}}
    if path[:2] == ("policy", "stages"):
        swept["sweep"] = {"grid": {f"policy.stages.a.{path[-1]}": [value]}}
    elif path[:2] == ("scenarios", "bad"):
        swept["sweep"] = {"grid": {dotted: [value]}}
    sweep_file = folder / "sweep.yaml"
    sweep_file.write_text(dump(swept), encoding="utf-8")
    assert_no_traceback(runner.invoke(app, ["validate", str(file), str(sweep_file)]))
    assert_no_traceback(runner.invoke(app, ["trace", str(file)]))
    if affordable(document):
        assert_no_traceback(runner.invoke(app, ["run", str(file), "--quiet"]))
        out = ["--out", str(folder / "out"), "--quiet", "--no-plots", "--executor", "serial"]
        assert_no_traceback(runner.invoke(app, ["sweep", str(sweep_file), *out]))


@pytest.mark.parametrize("value", EXTREMES)
def test_extreme_values_of_the_command_line_options(tmp_path, value):
    file = tmp_path / "exp.yaml"
    file.write_text(dump(BASE), encoding="utf-8")
    for option in ("--seed", "--rollouts"):
        if option == "--rollouts" and 10**4 < float(value) < 10**12:
            continue  # valid and affordable by the estimate: it would run for minutes
        result = runner.invoke(app, ["run", str(file), option, str(value), "--quiet"])
        assert_no_traceback(result)


def test_fuzz_budget_is_stated():
    assert Path(__file__).read_text().count("CANARY_FUZZ_EXAMPLES") >= 2
