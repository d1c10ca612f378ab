"""Hostile input (issue 18): no write outside ``--out``, no traceback, located bounds."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from canary_mc.cli.app import app
from canary_mc.engine import cost
from canary_mc.engine.simulate import tally_experiment
from canary_mc.io.experiment_file import SweepFile, load_sweep_file, parse_experiment
from canary_mc.sweep import estimate, store
from canary_mc.sweep.lock import results_lock

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


# --- saved points are checked before they are trusted (item 4) -------------------------

SWEEP = COUNTS + "sweep: {grid: {service.requests_per_step: [100, 1000]}}\n"


def sweep_args(path: Path, out: Path, *extra: object) -> list[object]:
    return ["sweep", path, "--out", out, "--quiet", "--no-plots", "--executor", "serial", *extra]


@pytest.fixture
def swept(tmp_path):
    """A finished two-point sweep: (file, out, its summary as computed cleanly)."""
    path = write(tmp_path, SWEEP)
    out = tmp_path / "out"
    result = invoke(*sweep_args(path, out))
    assert result.exit_code == 0, result.output
    return path, out, pd.read_parquet(out / "hostile" / "summary.parquet")


def point_files(out: Path) -> list[Path]:
    return sorted((out / "hostile" / "points").glob("*.json"))


def resign(payload: dict) -> dict:
    """Recompute a point's checksum, as a careless hand edit that knows the format would."""
    return {**payload, "checksum": store._checksum(payload["key"], payload["tallies"])}


def set_field(field: str, value: object):
    def corrupt(payload: dict, other: dict) -> dict:
        payload["tallies"][0][1][field] = value
        return payload

    return corrupt


def swap_scenarios(payload: dict, other: dict) -> dict:
    (a, ta), (b, tb) = payload["tallies"]
    payload["tallies"] = [[a, tb], [b, ta]]
    return payload


def rollbacks_plus_1000(payload: dict, other: dict) -> dict:
    payload["tallies"][1][1]["rollbacks"] += 1000
    return payload


def other_points_content(payload: dict, other: dict) -> dict:
    return {**other, "key": payload["key"]}


def one_stage_too_few(payload: dict, other: dict) -> dict:
    payload["tallies"][0][1]["rollbacks_by_stage"].pop()
    return payload


def one_metric_too_few(payload: dict, other: dict) -> dict:
    payload["tallies"][0][1]["metric_rollbacks"].pop()
    return payload


CORRUPTIONS = {
    "rollbacks raised by 1000": rollbacks_plus_1000,
    "rollbacks above n_rollouts": set_field("rollbacks", 501),
    "negative count": set_field("no_data_rollbacks", -1),
    "float for an integer": set_field("steps_sum", 2000.0),
    "scenarios swapped": swap_scenarios,
    "another point's content, key rewritten": other_points_content,
    "n_rollouts 0": set_field("n_rollouts", 0),
    "rollbacks a string": set_field("rollbacks", "12"),
    "wrong stage count": one_stage_too_few,
    "wrong metric count": one_metric_too_few,
}
DETECTABLE_BY_INVARIANTS = {
    "rollbacks raised by 1000",
    "rollbacks above n_rollouts",
    "negative count",
    "float for an integer",
    "n_rollouts 0",
    "rollbacks a string",
    "wrong stage count",
    "wrong metric count",
}


@pytest.mark.parametrize(
    ("case", "signed"),
    [(c, False) for c in CORRUPTIONS] + [(c, True) for c in sorted(DETECTABLE_BY_INVARIANTS)],
)
def test_a_corrupt_point_is_recomputed_with_one_warning(swept, case, signed):
    """Each corruption is caught by the checksum; re-signed, by the tally invariants."""
    path, out, clean = swept
    target, other = point_files(out)
    payload = CORRUPTIONS[case](json.loads(target.read_text()), json.loads(other.read_text()))
    target.write_text(json.dumps(resign(payload) if signed else payload))
    result = invoke(*sweep_args(path, out))
    assert result.exit_code == 0, result.output
    # The file's own caveats (a delta metric at the 100% stage) are warnings too.
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    about_points = [line for line in warnings if "/points/" in line]
    assert len(about_points) == 1 and str(target) in about_points[0], result.output
    assert "computing it again" in about_points[0]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "hostile" / "summary.parquet"), clean)
    rerun = invoke(*sweep_args(path, out))  # the recomputed point is trusted again
    assert "/points/" not in rerun.output


def test_every_rule_and_model_produces_tallies_that_pass_the_invariants():
    """The invariants hold for real tallies, or every resumed point would be recomputed."""
    rules = [
        "threshold",
        "{kind: failure_limit, failure_limit: 1}",
        "{kind: cumulative_checks, threshold: 2}",
        "{kind: ztest, correction: pocock}",
        "sprt",
        "msprt",
        "{kind: mannwhitney, samples_per_step: 4}",
    ]
    for noise in ("noise: {model: counts}", "noise: {error_sigma: 0.005, latency_sigma_ms: 10}"):
        for rule in rules:
            text = COUNTS.replace("noise: {model: counts}", noise).replace(
                "policy:\n", f"policy:\n  rule: {rule}\n  no_data: fail\n"
            )
            if "counts" not in noise:
                text = text.replace(", requests_per_step: 1000", "")
            experiment = parse_experiment(text)
            for name, tally in tally_experiment(experiment).items():
                fields = json.loads(json.dumps(dataclasses.asdict(tally)))
                assert store.tally_problem(fields, experiment) is None, (noise, rule, name)


# --- one writer per folder, results as a pair, workers die with their parent (item 5) ----


def test_a_second_sweep_into_a_locked_folder_names_the_holder(tmp_path):
    path = write(tmp_path, SWEEP)
    out = tmp_path / "out"
    with results_lock(out / "hostile"):
        result = invoke(*sweep_args(path, out))
    assert_clean_refusal(result, f"being written by process {os.getpid()}", "--wait")
    assert not (out / "hostile" / "points").exists()  # refused before any work


def test_wait_lets_the_second_sweep_run_after_the_first(tmp_path):
    path = write(tmp_path, SWEEP)
    out = tmp_path / "out"
    held = threading.Event()

    def holder() -> None:
        with results_lock(out / "hostile"):
            held.set()
            time.sleep(1.0)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait()
    result = invoke(*sweep_args(path, out, "--wait"))
    thread.join()
    assert result.exit_code == 0, result.output
    assert f"waiting for process {os.getpid()}" in result.output
    assert (out / "hostile" / "summary.parquet").is_file()


def test_the_lock_of_a_killed_sweep_is_released(tmp_path):
    path = write(tmp_path, SWEEP)
    out = tmp_path / "out"
    code = (
        "import sys, time\nfrom canary_mc.sweep.lock import results_lock\n"
        "with results_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(out / "hostile")], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    assert invoke(*sweep_args(path, out)).exit_code == 2
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert invoke(*sweep_args(path, out)).exit_code == 0


def test_two_concurrent_sweeps_corrupt_nothing_and_compute_once(tmp_path):
    path = write(tmp_path, SWEEP.replace("rollouts: 500", "rollouts: 20000"))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "canary_mc", *map(str, sweep_args(path, out, "--wait"))]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in "12"
    ]
    outputs = [p.communicate() for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    assert "Traceback" not in repr(outputs)
    # The one that waited found every point saved by the other: nothing computed twice.
    assert sum("reused" in stdout for stdout, _ in outputs) == 1, outputs
    assert not list((out / "hostile").rglob("*.tmp"))
    assert len(point_files(out)) == 2


def test_plot_refuses_a_summary_and_stages_of_different_runs(tmp_path):
    path = write(tmp_path, SWEEP)
    out = tmp_path / "out"
    assert invoke(*sweep_args(path, out)).exit_code == 0
    folder = out / "hostile"
    old_stages = (folder / "stages.parquet").read_bytes()
    assert invoke(*sweep_args(path, out, "--seed", 9)).exit_code == 0
    (folder / "stages.parquet").write_bytes(old_stages)  # a crash between the two writes
    result = invoke("plot", folder)
    assert_clean_refusal(result, "come from different runs")


def test_workers_exit_when_the_sweep_is_killed(tmp_path):
    path = write(tmp_path, SWEEP.replace("rollouts: 500", "rollouts: 3000000"))
    command = [sys.executable, "-m", "canary_mc", "sweep", str(path), "--quiet", "--no-plots"]
    parent = subprocess.Popen([*command, "--workers", "2", "--out", str(tmp_path / "out")])
    children: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(children) < 2:
        children = child_pids(parent.pid)
        time.sleep(0.1)
    time.sleep(1.0)  # let the workers start their tasks
    children = child_pids(parent.pid)
    assert children, "the sweep should have started worker processes"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)], "workers outlived their parent"


def child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        pytest.skip("needs Linux /proc")
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --- write errors: a path and a reason, before any work, nothing partial (item 6) --------


def test_out_on_a_file_fails_before_any_work(tmp_path):
    path = write(tmp_path, SWEEP)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = invoke(*sweep_args(path, blocker))
    assert_clean_refusal(result, f"cannot write {blocker / 'hostile'}", "Not a directory")


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def fail_when(name: str, original):
    def write(self, *args, **kwargs):
        if name in str(self):
            full_disk()
        return original(self, *args, **kwargs)

    return write


@pytest.mark.parametrize("writer", ["point", "parquet", "png", "report"])
def test_a_full_disk_in_any_writer_leaves_nothing_partial(tmp_path, monkeypatch, writer):
    import matplotlib.figure
    import pyarrow.parquet

    path = write(tmp_path, SWEEP)
    out = tmp_path / "out"
    folder = out / "hostile"
    if writer == "point":
        monkeypatch.setattr(Path, "write_text", fail_when(".json.", Path.write_text))
        expected = folder / "points"
    elif writer == "parquet":
        monkeypatch.setattr(pyarrow.parquet, "write_table", full_disk)
        expected = folder / "summary.parquet"
    elif writer == "png":
        monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_disk)
        expected = folder / "plots"
    else:
        monkeypatch.setattr(Path, "write_text", fail_when("report.md.", Path.write_text))
        expected = folder / "report.md"
    args = [a for a in sweep_args(path, out) if a != "--no-plots"]
    result = invoke(*args)
    assert_clean_refusal(result, f"cannot write {expected}", "No space left on device")
    assert not list(folder.rglob("*.tmp")), "no temporary left behind"
    for written in folder.rglob("*"):
        assert written.is_dir() or written.name == ".lock" or written.stat().st_size > 0
    if writer != "point":
        monkeypatch.undo()
        assert invoke(*sweep_args(path, out)).exit_code == 0  # the saved points resume


# --- results honour the umask (issue 17, item 7) ------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_every_result_file_honours_the_umask(tmp_path, umask, mode):
    path = write(tmp_path, SWEEP)
    out = tmp_path / "out"
    old = os.umask(umask)
    try:
        args = [a for a in sweep_args(path, out) if a != "--no-plots"]
        assert invoke(*args).exit_code == 0
    finally:
        os.umask(old)
    files = [p for p in (out / "hostile").rglob("*") if p.is_file() and p.name != ".lock"]
    kinds = {p.suffix for p in files}
    assert {".json", ".parquet", ".png", ".md"} <= kinds
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(mode)}


# --- work estimated before anything runs or is expanded (item 3) -------------------------

BILLION = """\
sweep:
  grid:
    policy.error_threshold_scale: {start: 0.1, stop: 2, num: 1000}
    noise.error_dispersion: {start: 0, stop: 1, num: 1000}
    policy.latency_threshold_ms: {start: 10, stop: 100, num: 1000}
"""


def no_expansion(monkeypatch):
    def refuse(self):
        raise AssertionError("the grid was expanded")

    monkeypatch.setattr(SweepFile, "points", refuse)


def test_a_billion_point_grid_is_refused_before_expansion(tmp_path, monkeypatch):
    no_expansion(monkeypatch)
    path = write(tmp_path, COUNTS.replace("rollouts: 500", "rollouts: 1") + BILLION)
    result = invoke("sweep", path, "--out", tmp_path / "out", "--rollouts", 1)
    assert_clean_refusal(result, "1,000,000,000 grid points", "more than 24 hours", "--yes")
    assert not (tmp_path / "out").exists()


def test_a_grid_too_large_for_memory_is_refused_before_expansion(tmp_path, monkeypatch):
    no_expansion(monkeypatch)
    monkeypatch.setattr(estimate, "physical_memory", lambda: 4e9)
    grid = BILLION.replace("num: 1000}\n    policy.latency", "num: 1}\n    policy.latency")
    path = write(tmp_path, COUNTS.replace("rollouts: 500", "rollouts: 1") + grid)
    result = invoke("sweep", path, "--out", tmp_path / "out")
    assert_clean_refusal(result, "1,000,000 grid points", "more memory than 2.0 GB")


@pytest.mark.parametrize("rollouts", [10**12, 10**11])
def test_run_refuses_a_day_of_work_without_yes(tmp_path, rollouts):
    path = write(tmp_path, COUNTS)
    result = invoke("run", path, "--rollouts", rollouts)
    assert_clean_refusal(result, f"{path}: estimated", "rollout-steps", "--yes")


def test_the_estimate_is_per_rule_and_model():
    """mannwhitney at 50 samples is estimated far slower than threshold (issue: 50x)."""
    slow = parse_experiment(COUNTS.replace("policy:\n", MW.format(m=50)))
    fast = parse_experiment(COUNTS)
    ratio = estimate.estimate_work(slow).seconds / estimate.estimate_work(fast).seconds
    assert ratio > 50
    gaussian = parse_experiment(GAUSSIAN)
    assert estimate.estimate_work(gaussian).seconds < estimate.estimate_work(fast).seconds


MW = "policy:\n  rule: {{kind: mannwhitney, samples_per_step: {m}}}\n"
GAUSSIAN = COUNTS.replace(
    "noise: {model: counts}", "noise: {error_sigma: 0.01, latency_sigma_ms: 5}"
)
GAUSSIAN = GAUSSIAN.replace(", requests_per_step: 1000", "")


@pytest.mark.parametrize("m", [2, 30, 100])
def test_mannwhitney_memory_does_not_grow_with_rollouts(m):
    text = COUNTS.replace("policy:\n", MW.format(m=m))
    peaks = {
        n: estimate.estimate_work(parse_experiment(text.replace("rollouts: 500", f"rollouts: {n}")))
        for n in (20_000, 200_000, 2_000_000)
    }
    assert len({e.peak_bytes for e in peaks.values()}) == 1
    assert peaks[2_000_000].seconds > 50 * peaks[20_000].seconds


@pytest.mark.parametrize(
    ("rule", "noise"),
    [
        ("threshold", "counts"),
        ("{kind: cumulative_checks, threshold: 2}", "counts"),
        ("msprt", "gaussian"),
        ("{kind: mannwhitney, samples_per_step: 12}", "gaussian"),
        ("{kind: mannwhitney, samples_per_step: 20}", "counts"),
        ("{kind: mannwhitney, samples_per_step: 40}", "counts"),
        ("{kind: mannwhitney, samples_per_step: 3}", "counts"),
    ],
)
def test_a_chunk_never_needs_more_memory_than_estimated(rule, noise):
    """The working set the guard assumes bounds what the engine really allocates."""
    text = (COUNTS if noise == "counts" else GAUSSIAN).replace(
        "policy:\n", f"policy:\n  rule: {rule}\n"
    )
    experiment = parse_experiment(text.replace("rollouts: 500", "rollouts: 9000"))
    tracemalloc.start()
    try:
        tally_experiment(experiment)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    policy, noise = experiment.policy, experiment.noise
    assert peak <= cost.chunk_bytes(policy, noise)
    assert cost.chunk_bytes(policy, noise) <= max(
        cost.target_bytes(noise), cost.block_bytes(policy, noise)
    )


def test_a_sweep_estimate_equals_the_sum_over_its_points(tmp_path):
    """Without expanding, the estimate of a full grid is exact: factors per axis multiply."""
    grid = (
        "sweep:\n  grid:\n    rollouts: [5000, 9000, 20000]\n"
        "    policy.stages.a.duration_steps: [1, 2, 7]\n"
        "    policy.rule: [threshold, {kind: mannwhitney, samples_per_step: 8}]\n"
    )
    sweep_file = load_sweep_file(write(tmp_path, COUNTS + grid))
    estimated = estimate.estimate_work(
        sweep_file.experiment, n_points=sweep_file.n_points, axes=sweep_file.axis_variants()
    )
    each = [estimate.estimate_work(e) for _, e in sweep_file.points()]
    assert estimated.rollout_steps == pytest.approx(sum(e.rollout_steps for e in each))
    assert estimated.seconds == pytest.approx(sum(e.seconds for e in each))
    assert estimated.peak_bytes >= max(e.peak_bytes for e in each)
    # run and sweep estimate one experiment alike
    single = load_sweep_file(write(tmp_path, COUNTS, "one.yaml"))
    assert estimate.estimate_work(single.experiment) == estimate.estimate_work(
        single.experiment, n_points=1, axes=single.axis_variants()
    )
