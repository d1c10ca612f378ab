"""`canary-mc init`: a commented counts-model starter that validates and runs, filled from
flags (CI) or from answers on a terminal."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from canary_mc.cli import app as cli
from canary_mc.io.experiment_file import load_experiment

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(cli.app, list(args), input=input)


def test_defaults_write_a_file_that_validates_and_runs(tmp_path):
    path = tmp_path / "svc.yaml"
    result = invoke("init", str(path), "--no-input")
    assert result.exit_code == 0, result.output
    assert f"wrote {path}" in result.output
    text = path.read_text()
    assert text.startswith("# A starter experiment written by `canary-mc init`")
    assert "model: counts" in text
    checked = invoke("validate", str(path))
    assert checked.exit_code == 0, checked.output
    assert "ok (1 grid point(s) x 3 scenario(s))" in checked.output
    run = invoke("run", str(path), "--rollouts", "2000", "--json")
    assert run.exit_code == 0, run.output
    rows = json.loads(run.stdout)
    assert [r["scenario"] for r in rows] == ["healthy", "error-regression", "latency-regression"]


def test_flags_fill_in_the_service_stages_and_interval(tmp_path):
    path = tmp_path / "checkout.yaml"
    result = invoke(
        "init", str(path), "--name", "checkout", "--requests-per-second", "12.5",
        "--interval", "30", "--error-rate", "0.002", "--latency-ms", "85",
        "--stages", "2, 10, 50, 100", "--checks-per-stage", "3",
        "--error-threshold", "0.015", "--latency-threshold-ms", "40",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = load_experiment(path)
    assert config.name == "checkout"
    assert config.noise.model == "counts"
    assert config.service.requests_per_step == 375  # 12.5 requests/s x 30 s
    assert config.service.error_rate == 0.002
    assert config.service.latency_ms == 85
    assert [s.traffic_pct for s in config.policy.stages] == [2, 10, 50, 100]
    assert [s.duration_steps for s in config.policy.stages] == [3, 3, 3, 3]
    assert {s.error_threshold for s in config.policy.stages} == {0.015}
    assert config.policy.latency_threshold_ms == 40
    assert "12.5 requests/s x 30 s per check = 375 requests per check" in path.read_text()


def test_questions_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    path = tmp_path / "asked.yaml"
    # name, requests/s, error rate, (latency: a flag), interval, stages, checks, two
    # thresholds; an empty answer takes the default
    answers = "asked\n50\n0.01\n120\n5,50\n4\n\n\n"
    result = invoke("init", str(path), "--latency-ms", "200", input=answers)
    assert result.exit_code == 0, result.output
    assert "Requests per second your service serves" in result.output
    assert "Median request latency" not in result.output  # given as a flag: not asked
    assert "Requests per second your service serves [200]:" in result.output
    config = load_experiment(path)
    assert config.name == "asked"
    assert config.service.requests_per_step == 6000  # 50 requests/s x 120 s
    assert config.service.error_rate == 0.01
    assert config.service.latency_ms == 200
    assert [s.traffic_pct for s in config.policy.stages] == [5, 50]
    assert [s.duration_steps for s in config.policy.stages] == [4, 4]
    assert invoke("validate", str(path)).exit_code == 0


def test_no_questions_without_a_terminal(tmp_path):
    path = tmp_path / "ci.yaml"
    result = invoke("init", str(path))  # CliRunner's stdin is not a terminal
    assert result.exit_code == 0, result.output
    assert "?" not in result.output and ":" not in result.output.split("wrote")[0]
    assert load_experiment(path).service.requests_per_step == 12000  # the defaults


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stages", "5,1"], "stages: traffic percentages must rise stage by stage, got '5,1'"),
        (["--stages", "0,5"], "stages: each traffic percentage must be in (0, 100], got '0,5'"),
        (["--stages", "a,b"], "stages: must be traffic percentages separated by commas"),
        (["--error-rate", "1.5"], "--error-rate: must be a fraction in [0, 1), got 1.5"),
        (["--interval", "0"], "--interval: must be positive, got 0"),
        (["--checks-per-stage", "0"], "--checks-per-stage: must be at least 1, got 0"),
        (["--name", "a/b"], "--name: must be a plain name (no slashes), got 'a/b'"),
    ],
)
def test_bad_answers_exit_2_and_write_nothing(tmp_path, args, message):
    path = tmp_path / "bad.yaml"
    result = invoke("init", str(path), "--no-input", *args)
    assert result.exit_code == 2
    assert f"error: {message}" in result.output
    assert "Traceback" not in result.output
    assert not path.exists()


def test_an_existing_file_is_kept_unless_force(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("keep me")
    result = invoke("init", str(path), "--no-input")
    assert result.exit_code == 2
    assert f"error: {path}: already exists; pass --force to overwrite it" in result.output
    assert path.read_text() == "keep me"
    assert invoke("init", str(path), "--no-input", "--force").exit_code == 0
    assert load_experiment(path).noise.model == "counts"
