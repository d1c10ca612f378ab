"""The Dask executor: same numbers as a local run, on a LocalCluster and on real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sweep import (
    BASE,
    WORLD_GRID,
    Crash,
    CrashingExecutor,
    assert_same_results,
    invoke,
    plan_of,
    write,
)

from canary_mc.sweep.dask_executor import INSTALL_HINT, SCHEDULER_ENV, DaskExecutor
from canary_mc.sweep.executors import ProcessExecutor, make_executor
from canary_mc.sweep.runner import run_sweep

distributed = pytest.importorskip("distributed")

GRID = """\
sweep:
  grid:
    policy.error_threshold_scale: {start: 0.5, stop: 2, num: 6}
    noise.error_sigma: [0.004, 0.008]
"""


def test_local_cluster_gives_the_process_executors_results(tmp_path):
    plan = plan_of(write(tmp_path, BASE + GRID))
    with DaskExecutor(None, 2) as executor:
        assert executor.parallelism == 2
        on_dask = run_sweep(plan, tmp_path / "dask", executor=executor)
    local = run_sweep(plan, tmp_path / "process", executor=ProcessExecutor(2))
    assert_same_results(on_dask.directory, local.directory)


def test_a_sweep_interrupted_locally_resumes_on_dask(tmp_path):
    plan = plan_of(write(tmp_path, BASE + WORLD_GRID))
    with pytest.raises(Crash):
        run_sweep(plan, tmp_path / "mixed", executor=CrashingExecutor(after=5))
    with DaskExecutor(None, 2) as executor:
        resumed = run_sweep(plan, tmp_path / "mixed", executor=executor)
    assert resumed.reused == 5
    assert_same_results(resumed.directory, run_sweep(plan, tmp_path / "whole").directory)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dask"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so the whole tree can be stopped
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_sweep_on_a_separate_scheduler_and_workers_survives_a_dead_worker(tmp_path):
    """`dask scheduler` + two `dask worker`s on loopback; a busy worker is killed mid-sweep."""
    text = BASE.replace("rollouts: 3000", "rollouts: 300000") + (
        "sweep:\n  grid:\n    noise.error_sigma: {start: 0.002, stop: 0.008, num: 16}\n"
    )  # each point its own world: about 8 tasks of 2 points
    path = write(tmp_path, text)
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    processes = {"scheduler": start("scheduler", "--host", "127.0.0.1", "--port", port,
                                    "--no-dashboard")}  # fmt: skip
    try:
        for name in ("w0", "w1"):
            processes[name] = start("worker", address, "--nthreads", "1", "--no-dashboard",
                                    "--nworkers", "1", "--name", name)  # fmt: skip
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            sweep = subprocess.Popen(
                [sys.executable, "-m", "canary_mc", "sweep", str(path), "--executor", "dask",
                 "--scheduler", address, "--out", str(tmp_path / "cluster"), "--quiet",
                 "--no-plots"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            points = tmp_path / "cluster" / "small" / "points"
            busy = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and busy is None and sweep.poll() is None:
                names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
                working = [names[a] for a, tasks in client.processing().items() if tasks]
                if working and list(points.glob("*.json")):
                    busy = working[0]
                time.sleep(0.02)
            assert busy is not None and sweep.poll() is None, "the kill must land mid-sweep"
            stop(processes[busy])  # a worker dies while it runs a task
            out, err = sweep.communicate(timeout=120)
        assert sweep.returncode == 0, err
        assert "small: 16 points x 2 scenarios: 16 points simulated" in out
        assert len(list(points.glob("*.json"))) == 16
    finally:
        for process in reversed(processes.values()):
            stop(process)
    assert all(process.poll() is not None for process in processes.values())
    whole = run_sweep(plan_of(path), tmp_path / "serial")
    assert_same_results(tmp_path / "cluster" / "small", whole.directory)


def test_a_missing_extra_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    path = write(tmp_path, BASE + GRID)
    result = invoke("sweep", str(path), "--executor", "dask", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert f"error: {INSTALL_HINT}" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r" / "small" / "summary.parquet").exists()


def test_scheduler_address_comes_from_the_option_or_the_environment(monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://10.1.2.3:8786")
    assert make_executor("dask", 2).scheduler == "tcp://10.1.2.3:8786"
    assert make_executor("dask", 2, "tcp://h:1").scheduler == "tcp://h:1"
    monkeypatch.delenv(SCHEDULER_ENV)
    assert make_executor("dask", 2).scheduler is None  # a LocalCluster


def test_scheduler_without_dask_executor_is_an_error(tmp_path):
    path = write(tmp_path, BASE + GRID)
    result = invoke("sweep", str(path), "--scheduler", "tcp://h:1", "--out", str(tmp_path))
    assert result.exit_code == 2 and "--scheduler needs --executor dask" in result.output
