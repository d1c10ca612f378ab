"""Hostile input (issue 18): no write outside ``--out``, no traceback, located bounds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from canary_mc.cli.app import app

runner = CliRunner()

COUNTS = """\
name: hostile
seed: 1
rollouts: 500
policy:
  stages:
    - {name: a, traffic_pct: 10, duration_steps: 2, error_threshold: 0.02}
    - {name: b, traffic_pct: 100, duration_steps: 2, error_threshold: 0.01}
service: {error_rate: 0.01, latency_ms: 100, requests_per_step: 1000}
noise: {model: counts}
scenarios:
  bad: {error_delta: 0.02, onset_step: 1}
"""


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_refusal(result, *fragments: str) -> None:
    """Exit 2, a located message, and no Python internals on any stream."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.mark.parametrize(
    "name",
    ["'..'", "'.'", "/tmp/absolute", "../../escape", "'..\\\\up'", "'C:\\\\evil'", '"a\\0b"'],
)
def test_names_that_escape_the_output_folder_are_refused(tmp_path, name):
    path = write(tmp_path, COUNTS.replace("name: hostile", f"name: {name}"))
    out = tmp_path / "deep" / "out"
    before = sorted(tmp_path.rglob("*"))
    for command in (("validate", path), ("sweep", path, "--out", out, "--quiet")):
        result = invoke(*command)
        assert_clean_refusal(result, f"{path}:1:7: name: must be")
    assert sorted(tmp_path.rglob("*")) == before  # nothing written anywhere


def test_a_plain_name_writes_under_out_only(tmp_path):
    path = write(tmp_path, COUNTS)
    out = tmp_path / "out"
    result = invoke("sweep", path, "--out", out, "--quiet", "--no-plots")
    assert result.exit_code == 0, result.output
    assert (out / "hostile" / "summary.parquet").is_file()


# Each value passed validation before and ended in a traceback; now a located bound.
EXTREMES = {
    "requests 1e18": ("requests_per_step: 1000", "requests_per_step: 1e18", "8:", "at most"),
    "requests 2^63": (
        "requests_per_step: 1000",
        "requests_per_step: 9223372036854775808",
        "8:",
        "at most 1000000000",
    ),
    "requests 10^30": ("requests_per_step: 1000", "requests_per_step: 1" + "0" * 30, "8:", ""),
    "onset_step 10^30": ("onset_step: 1", "onset_step: 1" + "0" * 30, "11:", "at most 2000"),
    "mannwhitney 1000 samples": (
        "policy:\n",
        "policy:\n  rule: {kind: mannwhitney, samples_per_step: 1000}\n",
        "5:",
        "at most 100",
    ),
    "mannwhitney 1e6 samples": (
        "policy:\n",
        "policy:\n  rule: {kind: mannwhitney, samples_per_step: 1e6}\n",
        "5:",
        "at most 100",
    ),
    "tiny alpha": ("policy:\n", "policy:\n  rule: {kind: ztest, alpha: 1e-300}\n", "5:", "1e-12"),
    "subnormal alpha": (
        "policy:\n",
        "policy:\n  rule: {kind: ztest, alpha: 1e-320, correction: pocock}\n",
        "5:",
        "1e-12",
    ),
    "tiny step_weight": (
        "policy:\n",
        "policy:\n  rule: {kind: cumulative_checks, step_weight: 1e-6}\n",
        "5:",
        "at least 0.05",
    ),
    "huge dispersion": (
        "noise: {model: counts}",
        "noise: {model: counts, error_dispersion: 1e308}",
        "9:",
        "at most 10",
    ),
}


@pytest.mark.parametrize("case", list(EXTREMES))
@pytest.mark.parametrize("command", ["validate", "run", "trace", "sweep"])
def test_extreme_values_are_refused_with_their_bound(tmp_path, case, command):
    old, new, where, bound = EXTREMES[case]
    path = write(tmp_path, COUNTS.replace(old, new))
    args = [command, path] + (["--out", tmp_path / "out", "--quiet"] if command == "sweep" else [])
    result = invoke(*args)
    assert_clean_refusal(result, f"{path}:{where}", bound)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["9223372036854775808", "1" + "0" * 30])
def test_a_swept_seed_beyond_int64_is_refused(tmp_path, value):
    path = write(tmp_path, COUNTS + f"sweep: {{grid: {{seed: [1, {value}]}}}}\n")
    result = invoke("sweep", path, "--out", tmp_path / "out", "--quiet")
    assert_clean_refusal(result, f"{path}:12:", "sweep.grid.seed[1]: must be at most")


def test_the_largest_seed_is_stored_losslessly(tmp_path):
    top = 2**63 - 1
    path = write(tmp_path, COUNTS + f"sweep: {{grid: {{seed: [0, {top}]}}}}\n")
    result = invoke("sweep", path, "--out", tmp_path / "out", "--quiet", "--no-plots")
    assert result.exit_code == 0, result.output
    summary = pd.read_parquet(tmp_path / "out" / "hostile" / "summary.parquet")
    assert sorted(set(summary["seed"].tolist())) == [0, top]


@pytest.mark.parametrize(("option", "value"), [("--seed", 2**63), ("--rollouts", 10**30)])
def test_command_line_numbers_are_bounded_too(tmp_path, option, value):
    path = write(tmp_path, COUNTS)
    result = invoke("run", path, option, value)
    assert_clean_refusal(result, option)
