"""Sweeps: grid expansion, located errors, Parquet output, resume, invariance, CRN."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import EXPERIMENTS
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from canary_mc.cli.app import app
from canary_mc.engine.core.schedule import plan_policy
from canary_mc.engine.simulate import run_experiment, simulate_outcomes, tally_experiment
from canary_mc.errors import ExperimentFileError
from canary_mc.io.experiment_file import load_sweep_file
from canary_mc.io.grid import expand
from canary_mc.model import Experiment, Sweep
from canary_mc.stats.intervals import clopper_pearson_interval
from canary_mc.sweep import store
from canary_mc.sweep.executors import ProcessExecutor, SerialExecutor
from canary_mc.sweep.runner import _nested_chains, plan_sweep, run_sweep

BASE = """\
name: small
seed: 3
rollouts: 3000
policy:
  stages:
    - {name: one.pct, traffic_pct: 1, duration_steps: 2, error_threshold: 0.02}
    - {name: half, traffic_pct: 50, duration_steps: 2, error_threshold: 0.01}
service: {error_rate: 0.01, latency_ms: 100}
noise: {error_sigma: 0.005, latency_sigma_ms: 10}
scenarios:
  healthy: {}
  regression: {error_delta: 0.006}
"""

GRID = """\
sweep:
  grid:
    policy.error_threshold_scale: [0.5, 1.0, 2.0]
    noise.error_sigma: {start: 0.004, stop: 0.008, num: 2}
"""


WORLD_GRID = """\
sweep:
  grid:
    noise.error_sigma: [0.003, 0.004, 0.006]
    noise.latency_sigma_ms: [5, 10]
"""
"""Six points that each change the world, so no two share paths: one task per point."""


def write(tmp_path: Path, text: str, name: str = "small.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def plan_of(path: Path, **overrides):
    return plan_sweep(load_sweep_file(path), **overrides)


# --- grid expansion ---------------------------------------------------------------------


def test_grid_axes_cross_first_slowest_and_zip_rows_fastest():
    sweep = Sweep.model_validate(
        {
            "grid": {"a": [1, 2], "b": ["x", "y", "z"]},
            "zip": [{"c": 1, "d": 10.0}, {"d": 20.0, "c": 2}],
        }
    )
    points = list(expand(sweep))
    expected = [
        {"a": a, "b": b, "c": c, "d": d}
        for a, b, (c, d) in itertools.product([1, 2], "xyz", [(1, 10.0), (2, 20.0)])
    ]
    assert [p.values for p in points] == expected
    assert [list(p.values) for p in points] == [["a", "b", "c", "d"]] * 12
    assert [p.index for p in points] == list(range(12)) and sweep.n_points == 12


def test_linspace_and_step_ranges_include_both_ends():
    sweep = Sweep.model_validate(
        {
            "grid": {
                "lin": {"start": 0.5, "stop": 2.0, "num": 4},
                "step": {"start": 0.5, "stop": 2.0, "step": 0.25},
                "tenths": {"start": 0.1, "stop": 0.3, "step": 0.1},
                "one": {"start": 3, "stop": 9, "num": 1},
            }
        }
    )
    values = {path: [] for path in sweep.grid}
    for point in expand(sweep):
        for path, value in point.values.items():
            if value not in values[path]:
                values[path].append(value)
    assert values["lin"] == [0.5, 1.0, 1.5, 2.0]
    assert values["step"] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert values["tenths"] == [0.1, 0.2, 0.3]  # not 0.30000000000000004
    assert values["one"] == [3.0]
    assert np.allclose(values["lin"], np.linspace(0.5, 2.0, 4), rtol=0, atol=1e-12)


@given(
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    rows=st.integers(0, 3),
)
def test_n_points_counts_distinct_combinations(sizes, rows):
    grid = {f"p{i}": list(range(n)) for i, n in enumerate(sizes)}
    zip_rows = [{"z": r} for r in range(rows)]
    sweep = Sweep.model_validate({"grid": grid, "zip": zip_rows})
    combos = [tuple(p.values.values()) for p in expand(sweep)]
    assert len(combos) == sweep.n_points == len(set(combos)) == np.prod(sizes) * max(rows, 1)


def test_a_file_without_sweep_is_one_point():
    assert [p.values for p in expand(None)] == [{}]


# --- bad files ----------------------------------------------------------------------------

BAD = [
    (
        "unknown key",
        "sweep:\n  grid: {noise.error_sigma: [0.01]}\n  grdi: {}\n",
        "small.yaml:15:3: sweep.grdi: unknown key 'grdi'; expected one of: grid, zip",
    ),
    (
        "wrong type",
        "sweep:\n  grid:\n    noise.error_sigma: 0.01\n",
        "small.yaml:15:24: sweep.grid.noise.error_sigma: must be a list of values, "
        "{start, stop, num} or {start, stop, step}, got 0.01",
    ),
    (
        "out of range value",
        "sweep:\n  grid:\n    noise.error_sigma: [0.01, -0.01]\n",
        "small.yaml:15:31: sweep.grid.noise.error_sigma[1]: must be at least 0, got -0.01",
    ),
    (
        "out of range in a range",
        "sweep:\n  grid:\n    service.error_rate: {start: 0.5, stop: 1.5, num: 3}\n",
        "small.yaml:15:25: sweep.grid.service.error_rate: must be at most 1, got 1.5",
    ),
    (
        "bad path",
        "sweep:\n  grid:\n    policy.error_treshold_scale: [1, 2]\n",
        "small.yaml:15:5: sweep.grid.policy.error_treshold_scale: is not a parameter: policy "
        "has no 'error_treshold_scale' (parameters: stages, latency_threshold_ms, "
        "error_threshold_scale, rule, no_data, metrics, interval)",
    ),
    (
        "unknown stage",
        "sweep:\n  grid:\n    policy.stages.full.error_threshold: [0.01]\n",
        "small.yaml:15:5: sweep.grid.policy.stages.full.error_threshold: names no stage of "
        "the file (known: 'one.pct', 'half')",
    ),
    (
        "a section swept with a number",
        "sweep:\n  grid:\n    scenarios.regression: [1]\n",
        "small.yaml:15:28: sweep.grid.scenarios.regression[0]: must be a mapping, got 1",
    ),
    (
        "a list",
        "sweep:\n  grid:\n    policy.stages: [1]\n",
        "small.yaml:15:5: sweep.grid.policy.stages: is a list; sweep the fields of its items, "
        "e.g. policy.stages.<stage name>.error_threshold",
    ),
    (
        "a nested mapping value",
        "sweep:\n  grid:\n    policy.rule: [{kind: ztest, x: {y: 1}}]\n",
        "small.yaml:15:19: sweep.grid.policy.rule[0]: a mapping value must map names to "
        "numbers, strings or true/false, got 'x': a mapping",
    ),
    (
        "two paths to one parameter",
        "sweep:\n  grid:\n    policy.stages.half.error_threshold: [0.01]\n"
        "    policy.stages.1.error_threshold: [0.02]\n",
        "small.yaml:16:5: sweep.grid.policy.stages.1.error_threshold: sets the same parameter "
        "as 'policy.stages.half.error_threshold'; sweep each parameter once",
    ),
    (
        "unsweepable",
        "sweep:\n  grid:\n    name: [a, b]\n",
        "small.yaml:15:5: sweep.grid.name: cannot be swept: it names the output folder",
    ),
    (
        "empty grid",
        "sweep:\n  grid: {}\n",
        "small.yaml:14:3: sweep: must sweep at least one parameter in grid or zip, got neither",
    ),
    (
        "empty axis",
        "sweep:\n  grid:\n    noise.error_sigma: []\n",
        "small.yaml:15:24: sweep.grid.noise.error_sigma: must have at least 1 item(s), got 0",
    ),
    (
        "repeated value",
        "sweep:\n  grid:\n    noise.error_sigma: [0.01, 0.01]\n",
        "small.yaml:15:31: sweep.grid.noise.error_sigma[1]: repeats the value 0.01",
    ),
    (
        "zip rows differ",
        "sweep:\n  zip:\n    - {noise.error_sigma: 0.01}\n    - {service.error_rate: 0.1}\n",
        "small.yaml:16:7: sweep.zip[1]: must name the same parameters as the first row "
        "(noise.error_sigma), got service.error_rate",
    ),
    (
        "zip value out of range",
        "sweep:\n  zip:\n    - {noise.error_sigma: 0.01}\n    - {noise.error_sigma: -1}\n",
        "small.yaml:16:27: sweep.zip[1].noise.error_sigma: must be at least 0, got -1",
    ),
    (
        "a value that breaks another field's rule",
        "sweep:\n  grid:\n    scenarios.regression.onset_stage: [half, full]\n",
        "small.yaml:15:46: sweep.grid.scenarios.regression.onset_stage[1]: must name a stage "
        "('one.pct', 'half') or be a 0-based index below 2, got 'full'",
    ),
]


@pytest.mark.parametrize(("case", "sweep", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_sweeps_report_exact_messages(tmp_path, case, sweep, expected):
    path = write(tmp_path, BASE + sweep)
    with pytest.raises(ExperimentFileError) as info:
        load_sweep_file(path)
    assert [str(p) for p in info.value.problems] == [f"{tmp_path}/{expected}"]


def test_missing_file_and_yaml_syntax_error(tmp_path):
    with pytest.raises(ExperimentFileError, match=r"nope\.yaml: no such file$"):
        load_sweep_file(tmp_path / "nope.yaml")
    path = write(tmp_path, BASE + "sweep:\n  grid:\n    noise.error_sigma: [0.01\n")
    with pytest.raises(ExperimentFileError) as info:
        load_sweep_file(path)
    assert str(info.value).startswith(f"{path}:16:1: invalid YAML")


def test_every_problem_is_reported_at_once(tmp_path):
    text = BASE.replace("error_sigma: 0.005", "error_sigma: -1") + (
        "sweep:\n  grid:\n    policy.nope: [1]\n    noise.error_sigma: [0.1]\n"
    )
    with pytest.raises(ExperimentFileError) as info:
        load_sweep_file(write(tmp_path, text))
    paths = [p.path for p in info.value.problems]
    assert paths == ["noise.error_sigma", "sweep.grid.policy.nope"]


def test_an_invalid_combination_names_the_point(tmp_path):
    text = BASE.replace("duration_steps: 2, error_threshold: 0.02", "error_threshold: 0.02")
    text += "sweep:\n  grid:\n    policy.stages.one.pct.duration_steps: [1, 1500]\n"
    text += "    policy.stages.half.duration_steps: [1, 1500]\n"
    sweep_file = load_sweep_file(write(tmp_path, text))  # each value alone is fine
    with pytest.raises(ExperimentFileError) as info:
        plan_sweep(sweep_file)
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (13, "sweep")
    assert problem.message.startswith(
        "point 3 (policy.stages.one.pct.duration_steps=1500, "
        "policy.stages.half.duration_steps=1500): policy.stages: "
        "the stages' duration_steps must add up to at most 2000"
    )


# --- running, output and metadata ---------------------------------------------------------


def test_summary_and_stages_follow_the_schema(tmp_path):
    path = write(tmp_path, BASE + GRID)
    result = run_sweep(plan_of(path), tmp_path / "out")
    summary = store.read_summary(result.directory)
    stages = store.read_stages(result.directory)
    axes = ["policy.error_threshold_scale", "noise.error_sigma"]
    assert list(summary.columns[:4]) == ["experiment", "point", "scenario", "healthy"]
    assert list(summary.columns[4:6]) == axes
    assert len(summary) == 6 * 2 and summary["point"].tolist() == [
        p for p in range(6) for _ in "ab"
    ]
    assert summary["scenario"].tolist() == ["healthy", "regression"] * 6
    assert summary[axes].drop_duplicates().values.tolist() == [
        [s, e] for s in (0.5, 1.0, 2.0) for e in (0.004, 0.008)
    ]
    healthy = summary[summary.healthy].set_index("point")
    regressed = summary[~summary.healthy].set_index("point")
    assert (regressed["false_alarm_rate"] == healthy["rollback_rate"]).all()
    assert (regressed["detection_rate"] == regressed["rollback_rate"]).all()
    assert healthy["detection_rate"].isna().all()
    for row in summary.itertuples():
        lo, hi = clopper_pearson_interval(row.rollbacks, row.n_rollouts)
        assert (row.rollback_rate_lo, row.rollback_rate_hi) == (lo, hi)
        assert row.rollback_rate == row.rollbacks / 3000
        assert row.completed_rate == (row.n_rollouts - row.rollbacks) / row.n_rollouts
    assert list(stages.columns[:8]) == [
        "point", "scenario", "healthy", *axes, "rule", "stage", "stage_index",
    ]  # fmt: skip
    assert stages["stage"].tolist()[:2] == ["one.pct", "half"]
    per_scenario = stages.groupby(["point", "scenario"], sort=False, observed=True)[
        "rollbacks"
    ].sum()
    assert per_scenario.tolist() == summary["rollbacks"].tolist()


def test_results_match_the_single_experiment_engine(tmp_path):
    """A grid point's numbers are those of the same configuration run on its own."""
    path = write(tmp_path, BASE + GRID)
    plan = plan_of(path)
    summary = store.read_summary(run_sweep(plan, tmp_path / "out").directory)
    index, values, experiment = plan.points[4]
    assert values == {"policy.error_threshold_scale": 2.0, "noise.error_sigma": 0.004}
    assert experiment.policy.error_threshold_scale == 2.0
    assert experiment.noise.error_sigma == 0.004
    outcomes = simulate_outcomes(
        policy=experiment.policy,
        service=experiment.service,
        noise=experiment.noise,
        scenario=experiment.scenarios["regression"],
        n_rollouts=3000,
        seed=3,
    )
    row = summary[(summary.point == index) & (summary.scenario == "regression")]
    assert row["rollbacks"].item() == outcomes.rolled_back.sum()


def test_parquet_metadata_round_trips_through_pyarrow_and_pandas(tmp_path):
    text = BASE + GRID
    path = write(tmp_path, text)
    result = run_sweep(plan_of(path, seed=9), tmp_path / "out")
    for parquet in (result.summary, result.stages):
        meta = store.read_metadata(parquet)
        raw = pq.read_schema(parquet).metadata
        assert (
            raw[b"canary_mc.experiment_file"].decode() == text == meta["canary_mc.experiment_file"]
        )
        assert meta["canary_mc.seed"] == "9"
        assert json.loads(meta["canary_mc.axes"]) == [
            "policy.error_threshold_scale",
            "noise.error_sigma",
        ]
        config = Experiment.model_validate_json(meta["canary_mc.config"])
        assert config.seed == 9 and config.sweep is not None
        assert config == load_sweep_file(path).experiment.model_copy(update={"seed": 9})
        assert meta["canary_mc.scenarios"] == '["healthy", "regression"]'
        assert meta["canary_mc.version"] and meta["canary_mc.created"].endswith("+00:00")
    frame = pd.read_parquet(result.summary)
    assert frame.equals(store.read_summary(result.directory))


def frames(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return store.read_summary(directory), store.read_stages(directory)


def assert_same_results(a: Path, b: Path) -> None:
    for left, right in zip(frames(a), frames(b), strict=True):
        pd.testing.assert_frame_equal(left, right, check_exact=True)


def test_workers_and_chunk_size_do_not_change_results(tmp_path):
    path = write(tmp_path, BASE.replace("rollouts: 3000", "rollouts: 9000") + GRID)
    plan = plan_of(path)
    one = run_sweep(plan, tmp_path / "one", chunk_rollouts=1)
    two = run_sweep(plan, tmp_path / "two", executor=ProcessExecutor(2), chunk_rollouts=50_000)
    assert_same_results(one.directory, two.directory)


class Crash(Exception):
    pass


class CrashingExecutor:
    """Runs tasks in process and dies after ``after`` results, like a killed sweep."""

    task_seconds = 0.0
    parallelism = 1

    def __init__(self, after: int) -> None:
        self.after = after

    def map_unordered(self, fn, tasks):
        for i, task in enumerate(tasks):
            if i == self.after:
                raise Crash
            yield fn(task)


def test_a_crashed_sweep_resumes_to_identical_results(tmp_path):
    path = write(tmp_path, BASE + WORLD_GRID)
    plan = plan_of(path)
    with pytest.raises(Crash):
        run_sweep(plan, tmp_path / "resumed", executor=CrashingExecutor(after=4))
    directory = tmp_path / "resumed" / "small"
    assert len(list((directory / "points").glob("*.json"))) == 4
    assert not (directory / "summary.parquet").exists()
    resumed = run_sweep(plan, tmp_path / "resumed")
    assert resumed.reused == 4
    fresh = run_sweep(plan, tmp_path / "fresh")
    assert_same_results(resumed.directory, fresh.directory)
    again = run_sweep(plan, tmp_path / "resumed", fresh=True)
    assert again.reused == 0


def test_a_killed_sweep_process_resumes_to_identical_results(tmp_path):
    """SIGKILL mid-sweep, rerun the same command: same rows as an uninterrupted run."""
    text = BASE.replace("rollouts: 3000", "rollouts: 300000") + (
        "sweep:\n  grid:\n    noise.error_sigma: {start: 0.002, stop: 0.008, num: 20}\n"
    )  # each point its own world: no shared paths, so each is saved as it finishes
    path = write(tmp_path, text)
    command = [
        sys.executable,
        "-m",
        "canary_mc",
        "sweep",
        str(path),
        "--quiet",
        "--workers",
        "1",
        "--no-plots",
    ]
    out = ["--out", str(tmp_path / "killed")]
    points = tmp_path / "killed" / "small" / "points"
    process = subprocess.Popen([*command, *out])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(points.glob("*.json"))) < 3:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(list(points.glob("*.json")))
    assert 3 <= done < 20, "the kill should land mid-sweep"
    subprocess.run([*command, *out], check=True, capture_output=True)
    subprocess.run([*command, "--out", str(tmp_path / "whole")], check=True, capture_output=True)
    assert_same_results(tmp_path / "killed" / "small", tmp_path / "whole" / "small")
    assert not [p for p in points.iterdir() if p.suffix != ".json"], "no temporary files left"


def test_a_changed_file_never_reuses_stale_points(tmp_path):
    path = write(tmp_path, BASE + GRID)
    run_sweep(plan_of(path), tmp_path / "out")
    path.write_text((BASE + GRID).replace("error_delta: 0.006", "error_delta: 0.02"))
    changed = run_sweep(plan_of(path), tmp_path / "out")
    assert changed.reused == 0
    assert_same_results(changed.directory, run_sweep(plan_of(path), tmp_path / "x").directory)
    # a description or name change does not alter any number: the points are reused
    path.write_text(
        (BASE + GRID).replace("error_delta: 0.006", "error_delta: 0.02")
        + "description: same numbers\n"
    )
    assert run_sweep(plan_of(path), tmp_path / "out").reused == 6


def test_adding_an_axis_value_keeps_the_other_points_results(tmp_path):
    axis = "sweep:\n  grid:\n    policy.error_threshold_scale: {}\n"
    small = plan_of(write(tmp_path, BASE + axis.format("[0.5, 2.0]"), "a.yaml"))
    a = store.read_summary(run_sweep(small, tmp_path).directory)
    large = plan_of(write(tmp_path, BASE + axis.format("[0.5, 1.0, 2.0]"), "b.yaml"))
    result = run_sweep(large, tmp_path)
    assert result.reused == 2  # the same content, so the same key and the same numbers
    b = store.read_summary(result.directory)
    assert b["point"].tolist() == [0, 0, 1, 1, 2, 2]
    b = b[b["policy.error_threshold_scale"] != 1.0]
    recomputed = store.read_summary(run_sweep(large, tmp_path / "fresh").directory)
    recomputed = recomputed[recomputed["policy.error_threshold_scale"] != 1.0]
    columns = ["scenario", "policy.error_threshold_scale", "rollbacks", "mean_steps_to_decision"]
    for other in (b, recomputed):
        assert a[columns].reset_index(drop=True).equals(other[columns].reset_index(drop=True))


# --- common random numbers --------------------------------------------------------------


def test_rollback_rates_never_rise_as_thresholds_loosen(tmp_path):
    text = BASE + (
        "sweep:\n  grid:\n    noise.error_sigma: [0.002, 0.006]\n"
        "    policy.error_threshold_scale: {start: 0.25, stop: 3, step: 0.25}\n"
        "    policy.latency_threshold_ms: [20, 40]\n"
    )
    text = text.replace(
        "regression: {error_delta: 0.006}",
        "regression: {error_delta: 0.006}\n  slow: {latency_delta_ms: 15, onset_stage: half}",
    )
    summary = store.read_summary(run_sweep(plan_of(write(tmp_path, text)), tmp_path).directory)
    for _, group in summary.groupby(["noise.error_sigma", "scenario"]):
        table = group.pivot(
            index="policy.error_threshold_scale",
            columns="policy.latency_threshold_ms",
            values="rollbacks",
        )
        assert (np.diff(table.values, axis=0) <= 0).all()  # looser error limit
        assert (np.diff(table.values, axis=1) <= 0).all()  # looser latency limit
        assert table.values.max() > table.values.min()  # the grid is not degenerate


def test_each_regressed_rollout_rolls_back_no_later_than_its_healthy_twin(tmp_path):
    text = BASE + GRID
    text = text.replace(
        "regression: {error_delta: 0.006}",
        "regression: {error_delta: 0.006}\n  leak: {latency_ramp_ms_per_step: 5, onset_stage: 1}",
    )
    strictly_earlier = 0
    for _, _, experiment in plan_of(write(tmp_path, text)).points:

        def decided(scenario, experiment=experiment):
            outcomes = simulate_outcomes(
                policy=experiment.policy,
                service=experiment.service,
                noise=experiment.noise,
                scenario=experiment.evaluated_scenarios[scenario],
                n_rollouts=2000,
                seed=experiment.seed,
            )
            return np.where(outcomes.rolled_back, outcomes.decision_step, np.inf)

        healthy = decided("healthy")
        for scenario in ("regression", "leak"):
            regressed = decided(scenario)
            assert (regressed <= healthy).all()
            strictly_earlier += (regressed < healthy).sum()
    assert strictly_earlier > 0  # the property is not vacuous


# --- the command line --------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_cli_sweep_end_to_end(tmp_path):
    path = write(tmp_path, BASE + GRID)
    result = invoke(
        "sweep",
        str(path),
        "--out",
        str(tmp_path / "r"),
        "--workers",
        "1",
        "--rollouts",
        "500",
        "--seed",
        "5",
    )
    assert result.exit_code == 0, result.output
    assert "small: 6 points x 2 scenarios: 6 points simulated (3,000 rollouts in" in result.output
    summary = store.read_summary(tmp_path / "r" / "small")
    assert (summary["n_rollouts"] == 500).all()
    assert (
        store.read_metadata(tmp_path / "r" / "small" / "summary.parquet")["canary_mc.seed"] == "5"
    )
    rerun = invoke(
        "sweep",
        str(path),
        "--out",
        str(tmp_path / "r"),
        "--rollouts",
        "500",
        "--seed",
        "5",
        "--quiet",
        "--no-plots",
    )
    # every point reused: no rollout count that could read as a speed figure
    assert "small: 6 points x 2 scenarios: 6 points reused, 0 simulated ->" in rerun.output
    assert "rollouts" not in rerun.output


def test_cli_bad_files_exit_2_and_write_nothing(tmp_path):
    good = write(tmp_path, BASE + GRID, "good.yaml")
    bad = write(tmp_path, BASE + "sweep:\n  grid:\n    noise.error_sigma: [-1]\n", "bad.yaml")
    result = invoke("sweep", str(good), str(bad), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "bad.yaml:15:25: sweep.grid.noise.error_sigma[0]: must be at least 0" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()
    result = invoke("validate", str(good), str(bad))
    assert result.exit_code == 2
    assert f"{good}: ok (6 grid point(s) x 2 scenario(s))" in result.output


def test_cli_refuses_a_huge_grid_unless_yes(tmp_path, monkeypatch):
    text = BASE + "sweep:\n  grid:\n    noise.error_sigma: {start: 0, stop: 1, num: 10000}\n"
    text += "    policy.error_threshold_scale: {start: 0, stop: 10, num: 10000}\n"
    path = write(tmp_path, text)
    result = invoke("sweep", str(path), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "100,000,000 grid points" in result.output
    assert "--yes" in result.output and "more than 24 hours" in result.output
    assert not (tmp_path / "r").exists()
    monkeypatch.setattr("canary_mc.sweep.estimate.MAX_UNCONFIRMED_SECONDS", 1e-9)
    small = write(tmp_path, BASE + GRID, "small2.yaml")
    assert invoke("sweep", str(small), "--out", str(tmp_path / "r")).exit_code == 2
    result = invoke(
        "sweep", str(small), "--out", str(tmp_path / "r"), "--yes", "--quiet", "--no-plots"
    )
    assert result.exit_code == 0, result.output


def test_cli_rollouts_option_conflicts_with_a_swept_rollouts(tmp_path):
    path = write(tmp_path, BASE + "sweep:\n  grid:\n    rollouts: [100, 200]\n")
    result = invoke("sweep", str(path), "--rollouts", "50", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "rollouts is swept in the file, so --rollouts cannot set it" in result.output
    result = invoke("sweep", str(path), "--out", str(tmp_path / "r"), "--quiet", "--no-plots")
    summary = store.read_summary(tmp_path / "r" / "small")
    assert summary["rollouts"].tolist() == [100, 100, 200, 200]
    assert summary["n_rollouts"].tolist() == [100, 100, 200, 200]


def test_run_refuses_a_sweep_file(tmp_path):
    result = invoke("run", str(write(tmp_path, BASE + GRID)))
    assert result.exit_code == 2 and "canary-mc sweep" in result.output


def test_shipped_experiments_validate_and_sweep_quickly(tmp_path):
    files = sorted(EXPERIMENTS.glob("*.yaml"))
    assert {"tight.yaml", "loose.yaml", "seed.yaml"} <= {f.name for f in files}
    result = invoke("validate", *map(str, files))
    assert result.exit_code == 0, result.output
    result = invoke(
        "sweep",
        *map(str, files),
        "--rollouts",
        "300",
        "--out",
        str(tmp_path),
        "--quiet",
        "--workers",
        "1",
    )
    assert result.exit_code == 0, result.output
    tight = store.read_summary(tmp_path / "tight")
    assert tight["healthy"].any() and (~tight["healthy"]).any()
    assert "excess_errors_mean" not in tight.columns  # the Gaussian model has no requests
    counts = store.read_summary(tmp_path / "low-traffic")
    assert counts["service.requests_per_step"].unique().tolist() == [100, 1000, 10000]
    blast = ["canary_requests_mean", "excess_errors_mean", "excess_errors_p95"]
    assert counts[blast].notna().all().all()
    assert (counts.loc[counts.healthy, "excess_errors_mean"] == 0).all()


def test_serial_and_process_executors_yield_every_result():
    tasks = list(range(7))
    assert sorted(SerialExecutor().map_unordered(abs, tasks)) == tasks
    assert sorted(ProcessExecutor(2).map_unordered(abs, tasks)) == tasks


def test_the_documented_example_is_a_valid_sweep(tmp_path):
    text = (EXPERIMENTS.parent / "docs" / "experiment-files.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    sweep_file = load_sweep_file(write(tmp_path, example, "loose.yaml"))
    assert sweep_file.n_points == 66 == len(plan_sweep(sweep_file).points)


def test_cli_sweep_draws_the_report_unless_no_plots(tmp_path):
    path = write(tmp_path, BASE + GRID)
    out = tmp_path / "r"
    result = invoke("sweep", str(path), "--out", str(out), "--workers", "1", "--no-plots")
    assert result.exit_code == 0 and not (out / "small" / "report.md").exists()
    result = invoke("sweep", str(path), "--out", str(out), "--workers", "1", "--target", "0.05")
    assert result.exit_code == 0, result.output
    report = (out / "small" / "report.md").read_text()
    assert "at most **5%**" in report
    assert (out / "small" / "plots" / "false_alarm_heatmap.png").read_bytes()[:8] == (
        b"\x89PNG\r\n\x1a\n"
    )
    result = invoke("sweep", str(path), "--out", str(tmp_path / "x"), "--target", "5")
    assert result.exit_code == 2 and "--target must be a fraction" in result.output
    assert not (tmp_path / "x").exists()


RULE_SWEEP = BASE.replace(
    "service:", "  rule: {kind: ztest, alpha: 0.05, correction: pocock}\nservice:"
)


def test_a_rule_parameter_sweeps_like_any_other(tmp_path):
    """``policy.rule.<key>`` addresses the chosen rule's field (no union tag in the path),
    and each point's numbers are those of that rule run on its own."""
    path = write(tmp_path, RULE_SWEEP + "sweep:\n  grid:\n    policy.rule.alpha: [0.01, 0.2]\n")
    plan = plan_of(path)
    summary = store.read_summary(run_sweep(plan, tmp_path / "out").directory)
    rates = []
    for index, values, experiment in plan.points:
        assert experiment.policy.rule.kind == "ztest"
        assert experiment.policy.rule.alpha == values["policy.rule.alpha"]
        assert experiment.policy.rule.correction == "pocock"
        outcomes = simulate_outcomes(
            policy=experiment.policy,
            service=experiment.service,
            noise=experiment.noise,
            scenario=experiment.scenarios["healthy"],
            n_rollouts=3000,
            seed=3,
        )
        row = summary[(summary.point == index) & (summary.scenario == "healthy")]
        assert row["rollbacks"].item() == outcomes.rolled_back.sum()
        rates.append(outcomes.rolled_back.mean())
    assert rates[0] < rates[1]


def test_a_bad_rule_value_in_a_sweep_is_located_without_the_union_tag(tmp_path):
    path = write(tmp_path, RULE_SWEEP + "sweep:\n  grid:\n    policy.rule.alpha: [0.01, 2]\n")
    with pytest.raises(ExperimentFileError) as info:
        load_sweep_file(path)
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path}/small.yaml:16:31: sweep.grid.policy.rule.alpha[1]: must be less than 1, got 2"
    ]


def test_whole_sections_can_be_swept_with_mappings(tmp_path):
    """A zip of whole rules with a policy knob: each point equals that rule run alone."""
    text = BASE + (
        "sweep:\n  zip:\n"
        "    - {policy.rule: {kind: threshold}, policy.error_threshold_scale: 2.0}\n"
        "    - {policy.rule: {kind: ztest, alpha: 0.05, correction: pocock},"
        " policy.error_threshold_scale: 1.0}\n"
        "    - {policy.rule: {kind: failure_limit, failure_limit: 1},"
        " policy.error_threshold_scale: 1.0}\n"
    )
    plan = plan_of(write(tmp_path, text))
    kinds = [experiment.policy.rule.kind for _, _, experiment in plan.points]
    assert kinds == ["threshold", "ztest", "failure_limit"]
    summary = store.read_summary(run_sweep(plan, tmp_path).directory)
    assert summary["policy.rule"].tolist()[::2] == [
        '{"kind": "threshold"}',
        '{"alpha": 0.05, "correction": "pocock", "kind": "ztest"}',
        '{"failure_limit": 1, "kind": "failure_limit"}',
    ]
    for index, _, experiment in plan.points:
        alone = run_experiment(experiment)
        rows = summary[summary.point == index]
        assert rows["rollbacks"].tolist() == [s.rollback.events for s in alone.scenarios]


def test_rules_yaml_compares_every_rule_at_a_matched_false_alarm_rate(tmp_path):
    """Its calibrated zip rows keep each rule's false alarms near 5% on other rollouts.

    10,000 rollouts: SE about 0.0022, so 4 SE is 0.009 around 5%; Mann-Whitney's rate is a
    step function of its confidence and calibrates only to about 6.4%.
    """
    plan = plan_of(EXPERIMENTS / "rules.yaml", rollouts=10_000, seed=2027)
    kinds = [experiment.policy.rule.kind for _, _, experiment in plan.points]
    assert kinds == [
        "threshold",
        "failure_limit",
        "cumulative_checks",
        "ztest",
        "sprt",
        "msprt",
        "mannwhitney",
    ]
    summary = store.read_summary(run_sweep(plan, tmp_path).directory)
    healthy = summary[summary.healthy].set_index("point")["rollback_rate"].tolist()
    se = (0.05 * 0.95 / 10_000) ** 0.5
    # the calibration itself is an estimate from 20,000 rollouts: its SE adds in quadrature
    tolerance = 4 * (se**2 + 0.05 * 0.95 / 20_000) ** 0.5
    assert all(abs(rate - 0.05) < tolerance for rate in healthy[:-1]), healthy
    assert abs(healthy[-1] - 0.064) < tolerance, healthy  # Mann-Whitney's discrete level


def test_every_point_keeps_the_same_scenarios(tmp_path):
    """A swept effect of 0 makes a scenario healthy; the added healthy one stays anyway."""
    text = BASE.replace("  healthy: {}\n", "") + (
        "sweep:\n  grid:\n    scenarios.regression.error_delta: [0, 0.006]\n"
    )
    plan = plan_of(write(tmp_path, text))
    assert [list(e.evaluated_scenarios) for _, _, e in plan.points] == [
        ["healthy", "regression"]
    ] * 2
    summary = store.read_summary(run_sweep(plan, tmp_path).directory)
    assert summary["scenario"].tolist() == ["healthy", "regression"] * 2
    assert summary["healthy"].tolist() == [True, True, True, False]
    zero = summary[summary.point == 0]
    assert zero["rollbacks"].nunique() == 1  # no effect at all: the same draws, the same rate


def test_threshold_grids_that_are_not_nested_split_into_chains(tmp_path):
    """Two stages' thresholds crossed: each chain shares paths; all equal runs alone."""
    text = BASE + (
        "sweep:\n  grid:\n    policy.stages.one.pct.error_threshold: [0.01, 0.02, 0.03]\n"
        "    policy.stages.half.error_threshold: [0.005, 0.01, 0.02]\n"
    )
    plan = plan_of(write(tmp_path, text))
    points = [(index, "k", experiment) for index, _, experiment in plan.points]
    chains = _nested_chains(points)
    assert sorted(i for chain in chains for i, _, _ in chain) == list(range(9))
    assert len(chains) == 3  # a 3 x 3 grid needs 3 chains
    for chain in chains:
        limits = [plan_policy(e.policy).error_threshold for _, _, e in chain]
        order = np.lexsort(np.array(limits).T[::-1])
        assert (np.diff(np.array(limits)[order], axis=0) >= 0).all()
    summary = store.read_summary(run_sweep(plan, tmp_path).directory)
    for index, _, experiment in plan.points:
        rows = summary[summary.point == index]
        assert rows["rollbacks"].tolist() == [
            t.rollbacks for t in tally_experiment(experiment).values()
        ]


def test_a_section_and_a_field_inside_it_cannot_both_be_swept(tmp_path):
    """Otherwise the mapping would overwrite the field, and the column would lie."""
    text = BASE.replace("policy:\n", "policy:\n  rule: {kind: ztest, alpha: 0.05}\n") + (
        "sweep:\n  grid:\n    policy.rule.alpha: [0.01, 0.3]\n"
        "  zip:\n    - {policy.rule: {kind: ztest}}\n    - {policy.rule: {kind: msprt}}\n"
    )
    with pytest.raises(ExperimentFileError) as info:
        load_sweep_file(write(tmp_path, text))
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path}/small.yaml:18:8: sweep.zip[0].policy.rule: sets a section overlapping "
        "'policy.rule.alpha'; sweep each parameter once"
    ]
