"""The command line end to end: exit codes, messages, and what it prints."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import pytest
from conftest import EXPERIMENTS
from scipy import stats
from typer.testing import CliRunner

from canary_mc.cli.app import app

SEED_YAML = str(EXPERIMENTS / "seed.yaml")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_run_json_reports_every_scenario_with_intervals():
    result = invoke("run", SEED_YAML, "--rollouts", "40000", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["scenario"] == "healthy"
    healthy = rows[0]
    assert healthy["healthy"] is True and healthy["detection_rate"] is None
    for row in rows:
        assert row["n_rollouts"] == 40000
        assert row["rollback_rate_lo"] <= row["rollback_rate"] <= row["rollback_rate_hi"]
        assert row["false_alarm_rate"] == healthy["rollback_rate"]
        assert row["rollback_rate"] + row["completed_rate"] == pytest.approx(1)
        assert sum(s["rollback_fraction"] for s in row["stages"]) == pytest.approx(
            row["rollback_rate"]
        )
        assert sum(row["rollbacks_by_reason"].values()) == row["rollbacks"]
        if not row["healthy"]:
            assert row["detection_rate"] == row["rollback_rate"]
            assert row["detection_rate_lo"] == row["rollback_rate_lo"]
            assert row["detection_rate_hi"] == row["rollback_rate_hi"]
    # Independent check of the headline number: the closed form of the seed's policy.
    p = 1 - math.prod(stats.norm.cdf([4, 3, 2, 2, 1])) * stats.norm.cdf(5) ** 5
    assert abs(healthy["rollback_rate"] - p) <= 4 * math.sqrt(p * (1 - p) / 40000)


def test_run_table_shows_every_rate_with_its_interval():
    args = ("run", SEED_YAML, "--rollouts", "20000", "--seed", "3")
    table = invoke(*args).stdout
    rows = json.loads(invoke(*args, "--json").stdout)
    assert "20,000 rollouts per scenario, seed 3" in table

    def shown(rate: float, lo: float, hi: float) -> str:
        # the interval's width, in points, written with two significant digits
        d = max(0, 1 - math.floor(math.log10(100 * (hi - lo))))
        return f"{100 * rate:.{d}f}% ({100 * lo:.{d}f}–{100 * hi:.{d}f})"

    healthy = rows[0]
    assert (
        "false-alarm rate (healthy): "
        + shown(healthy["rollback_rate"], healthy["rollback_rate_lo"], healthy["rollback_rate_hi"])
    ) in table
    for row in rows:
        assert (
            shown(row["rollback_rate"], row["rollback_rate_lo"], row["rollback_rate_hi"]) in table
        )
        assert (
            shown(row["completed_rate"], row["completed_rate_lo"], row["completed_rate_hi"])
            in table
        )


def test_seed_option_changes_results_and_is_reproducible():
    a = invoke("run", SEED_YAML, "--rollouts", "5000", "--seed", "1", "--json").stdout
    b = invoke("run", SEED_YAML, "--rollouts", "5000", "--seed", "1", "--json").stdout
    c = invoke("run", SEED_YAML, "--rollouts", "5000", "--seed", "2", "--json").stdout
    assert a == b != c


def test_trace_json_matches_the_seed_demo_shape():
    result = invoke("trace", SEED_YAML, "--seed", "42", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"phase", "stages_completed", "total_stages", "rollback_reason", "snapshots"}
    assert out["total_stages"] == 5
    assert out["snapshots"][0]["stage"] == "canary-1pct"
    assert out["snapshots"][0]["baseline_err"] == 0.01


def test_trace_table_names_the_decision():
    result = invoke("trace", SEED_YAML, "--seed", "1", "--scenario", "error-regression")
    assert result.exit_code == 0, result.output
    assert "scenario 'error-regression', seed 1" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.yaml"], "error: missing.yaml: no such file"),
        (["trace", SEED_YAML, "--scenario", "nope"], "error: scenario must be one of"),
    ],
)
def test_user_errors_exit_2_without_traceback(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.output


def test_bad_file_reports_location_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "policy:\n  stages:\n    - {name: a, traffic_pct: 120, error_threshold: 0.01}\n"
        "service: {error_rate: 0.01, latency_ms: 100}\n"
        "noise: {error_sigma: 0, latency_sigma_ms: 0}\n"
    )
    result = invoke("run", str(bad))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {bad}:3:30: policy.stages[0].traffic_pct: must be at most 100, got 120\n"
    )
    assert result.stdout == ""


def test_validate_checks_every_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rollouts: 0\n")
    result = invoke("validate", SEED_YAML, str(bad))
    assert result.exit_code == 2
    assert f"{SEED_YAML}: ok" in result.stdout
    assert f"{bad}:1:11: rollouts: must be at least 1, got 0" in result.stderr
    assert f"{bad}:1:1: policy: required key is missing" in result.stderr
    assert invoke("validate", SEED_YAML).exit_code == 0


def test_invalid_option_value_exits_2():
    assert invoke("run", SEED_YAML, "--rollouts", "0").exit_code == 2


def test_python_dash_m_works():
    result = subprocess.run(
        [sys.executable, "-m", "canary_mc", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "trace" in result.stdout and "run" in result.stdout


def test_one_rollout_has_no_mean_interval():
    result = invoke("run", SEED_YAML, "--rollouts", "1", "--json")
    row = json.loads(result.stdout)[0]
    assert row["mean_steps_to_decision_lo"] is None and row["mean_steps_to_decision_hi"] is None
    table = invoke("run", SEED_YAML, "--rollouts", "1").stdout
    assert "(no CI, n < 30)" in table


def test_names_are_text_not_markup(tmp_path):
    """A scenario or stage named like rich markup is printed as written, without a crash."""
    path = tmp_path / "markup.yaml"
    path.write_text(
        "name: '[red]exp'\n"
        "policy: {stages: [{name: '[/]', traffic_pct: 100, error_threshold: 0.01}]}\n"
        "service: {error_rate: 0.01, latency_ms: 100}\n"
        "noise: {error_sigma: 0.005, latency_sigma_ms: 10}\n"
        "scenarios: {'x[/]y': {error_delta: 0.01}}\n"
    )
    result = invoke("run", str(path), "--rollouts", "100")
    assert result.exit_code == 0, result.output
    assert "[red]exp:" in result.stdout and "x[/]y" in result.stdout and "[/]" in result.stdout
    result = invoke("trace", str(path), "--scenario", "x[/]y")
    assert result.exit_code == 0, result.output
    assert "[red]exp:" in result.stdout


def test_bench_reports_every_figure_and_writes_json(tmp_path):
    """Quick sizes: this checks the plumbing, never the speed (goals live in make bench)."""
    result = invoke("bench", SEED_YAML, "--quick", "--json", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert json.loads((tmp_path / "bench.json").read_text()) == payload
    assert payload["engine_vs_reference"]["end_to_end_ratio"] > 0
    names = [f["name"] for f in payload["figures"]]
    assert names == [
        "rng_floor_gaussian",
        "rng_floor_counts",
        "shared_path_sweep",
        "peak_memory",
        "parallel_speedup",
        "tune_one_knob",
        "tune_stage_vector",
    ]
    assert all(f["ratio"] > 0 for f in payload["figures"])
    assert [f["met"] is None for f in payload["figures"]] == [False] * 4 + [True] + [False] * 2
    assert payload["machine"]["cores_seen"] >= 1
    table = invoke("bench", SEED_YAML, "--quick", "--out", str(tmp_path)).stdout
    assert "goal: engine >= 100x" in table and "shared_path_sweep" in table


COMMANDS = (
    "run",
    "trace",
    "validate",
    "sweep",
    "plot",
    "bench",
    "init",
    "fit",
    "import",
    "export",
    "tune",
)


@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_every_help_reads_cleanly_at_80_columns(command):
    args = [command, "--help"] if command else ["--help"]
    narrow = runner.invoke(app, args, env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    for odd in ("<bool>", "<list[", "<path>", "<int range>", "<str>", "<float>"):
        assert odd not in narrow.output, (odd, command)
    # Prose is reflowed to the width, not broken where the source line happened to end:
    # each line of a paragraph is full, that is, the next line's first word would not fit.
    prose = [line.strip() for line in lines if not line.strip().startswith(("│", "╭", "╰"))]
    for line, following in itertools.pairwise(prose):
        if line and following and not following.startswith("Usage"):
            assert len(line) + 1 + len(following.split()[0]) > 78, (line, following)


def test_version_and_shell_completion():
    from canary_mc import __version__

    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"canary-mc {__version__}"
    assert "--install-completion" in invoke("--help").stdout
