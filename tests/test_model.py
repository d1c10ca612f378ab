"""Domain objects: frozen, and invalid values name the field, the rule and the bad value."""

from __future__ import annotations

import pytest
from conftest import SEED_NOISE, SEED_SERVICE, seed_policy
from pydantic import ValidationError

from canary_mc.model import HEALTHY, Experiment, GaussianNoise, Policy, Scenario, Service, Stage


def only_error(exc: ValidationError) -> dict:
    (error,) = exc.errors()
    return error


@pytest.mark.parametrize(
    ("kwargs", "field", "words", "bad"),
    [
        (dict(traffic_pct=120), "traffic_pct", "less than or equal to 100", 120),
        (dict(traffic_pct=0), "traffic_pct", "greater than 0", 0),
        (dict(duration_steps=0), "duration_steps", "greater than or equal to 1", 0),
        (dict(error_threshold=-0.01), "error_threshold", "greater than or equal to 0", -0.01),
        (dict(latency_threshold_ms=-1), "latency_threshold_ms", "greater than or equal to 0", -1),
        (dict(error_threshold=float("nan")), "error_threshold", "finite", float("nan")),
    ],
)
def test_stage_rules(kwargs, field, words, bad):
    base = dict(name="s", traffic_pct=5, duration_steps=1, error_threshold=0.01)
    with pytest.raises(ValidationError) as info:
        Stage(**{**base, **kwargs})
    error = only_error(info.value)
    assert error["loc"] == (field,)
    assert words in error["msg"]
    assert error["input"] == bad or bad != bad  # NaN is never equal to itself


def test_empty_stage_list_is_rejected():
    """The seed's pitfall: an empty list would 'complete' without any evaluation."""
    with pytest.raises(ValidationError) as info:
        Policy(stages=[])
    assert "must list at least one stage, got an empty list" in str(info.value)


def test_stage_names_must_be_unique():
    stage = Stage(name="a", traffic_pct=1, error_threshold=0.01)
    with pytest.raises(ValidationError) as info:
        Policy(stages=[stage, stage])
    error = only_error(info.value)
    assert error["loc"] == ("stages", 1, "name")
    assert error["msg"] == "stage names must be unique, got 'a' twice"


@pytest.mark.parametrize(
    ("model", "kwargs", "field"),
    [
        (Service, dict(error_rate=1.5, latency_ms=100), "error_rate"),
        (Service, dict(error_rate=0.01, latency_ms=0), "latency_ms"),
        (GaussianNoise, dict(error_sigma=-1, latency_sigma_ms=1), "error_sigma"),
        (GaussianNoise, dict(error_sigma=1, latency_sigma_ms=-1), "latency_sigma_ms"),
        (Scenario, dict(onset_stage=-1), "onset_stage"),
        (Scenario, dict(bogus=1), "bogus"),
    ],
)
def test_world_rules(model, kwargs, field):
    with pytest.raises(ValidationError) as info:
        model(**kwargs)
    assert only_error(info.value)["loc"] == (field,)


def test_objects_are_frozen():
    stage = Stage(name="a", traffic_pct=1, error_threshold=0.01)
    with pytest.raises(ValidationError):
        stage.traffic_pct = 2


def experiment(**scenarios):
    return Experiment(
        policy=seed_policy(), service=SEED_SERVICE, noise=SEED_NOISE, scenarios=scenarios
    )


def test_healthy_scenario_is_added_first_when_missing():
    e = experiment(bad=Scenario(error_delta=0.01))
    assert list(e.evaluated_scenarios) == ["healthy", "bad"]
    assert e.evaluated_scenarios["healthy"] == HEALTHY
    assert e.healthy_scenario == "healthy"


def test_a_listed_healthy_scenario_is_used_as_is():
    e = experiment(bad=Scenario(error_delta=0.01), control=Scenario())
    assert list(e.evaluated_scenarios) == ["bad", "control"]
    assert e.healthy_scenario == "control"


def test_scenario_named_healthy_must_be_healthy():
    with pytest.raises(ValidationError) as info:
        experiment(healthy=Scenario(error_delta=0.01))
    assert only_error(info.value)["loc"] == ("scenarios", "healthy")


@pytest.mark.parametrize("ref", ["nope", 5])
def test_onset_stage_must_exist(ref):
    with pytest.raises(ValidationError) as info:
        experiment(bad=Scenario(error_delta=0.01, onset_stage=ref))
    error = only_error(info.value)
    assert error["loc"] == ("scenarios", "bad", "onset_stage")
    assert repr(ref) in error["msg"]
