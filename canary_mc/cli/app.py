"""The ``canary-mc`` command line: parse arguments, call the core, render, set exit codes.

Only this module turns :class:`~canary_mc.errors.CanaryMCError` into a message on
standard error and exit code 2.
"""

from __future__ import annotations

import enum
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from canary_mc.bench import reference_dict, run_benchmarks
from canary_mc.cli.render import bench_table, estimate_tables, figures_table, trace_table
from canary_mc.engine import run_experiment, trace_rollout
from canary_mc.errors import CanaryMCError, ConfigError, ExperimentFileError, Problem
from canary_mc.heap import keep_freed_memory
from canary_mc.io.atomic import check_writable, write_text
from canary_mc.io.experiment_file import (
    SweepFile,
    load_experiment,
    load_experiment_with_caveats,
    load_sweep_file,
)
from canary_mc.io.progress import point_progress, rollout_progress
from canary_mc.model._base import MAX_ROLLOUTS, MAX_SEED
from canary_mc.sweep.estimate import NOTICE_SECONDS, WorkEstimate, check_work, estimate_work
from canary_mc.sweep.executors import Executor, default_workers, make_executor

if TYPE_CHECKING:
    from canary_mc.sweep.runner import SweepPlan

# The sweep runner (pandas, pyarrow) and the report (matplotlib) are imported inside the
# commands that use them: worker processes started with ``spawn`` re-import this module
# as their main module, and should not pay for libraries they never use.

USAGE_ERROR = 2

app = typer.Typer(
    name="canary-mc",
    help="Monte Carlo evaluation of canary rollout policies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ExperimentPath = Annotated[Path, typer.Argument(help="Experiment file (YAML).", show_default=False)]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed", min=0, max=MAX_SEED, help="Override the file's seed.", show_default=False
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def stdout_console() -> Console:
    """A console for tables: the terminal's width, or 120 columns when piped."""
    console = Console()
    return console if console.is_terminal else Console(width=120)


@contextmanager
def user_errors() -> Iterator[None]:
    """Report a user error as its message alone, and exit with code 2."""
    try:
        yield
    except CanaryMCError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(USAGE_ERROR) from None


YesOption = Annotated[
    bool,
    typer.Option("--yes", help="Run even work estimated above a day or half the memory."),
]


def size_check(what: str, estimate: WorkEstimate, *, yes: bool) -> None:
    """Refuse work too large without ``--yes``; print the estimate of long work."""
    if not yes:
        check_work(estimate, what=what)
    if estimate.seconds > NOTICE_SECONDS:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"{what}: estimated {estimate.describe()}", markup=False
        )


def print_caveats(caveats: tuple[Problem, ...]) -> None:
    """Print each located caveat of a valid file on standard error, as a warning."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for caveat in caveats:
        err.print(f"warning: {caveat}", markup=False)


@app.command()
def run(
    experiment: ExperimentPath,
    rollouts: Annotated[
        int | None,
        typer.Option(
            "--rollouts",
            min=1,
            max=MAX_ROLLOUTS,
            help="Override the file's rollouts.",
            show_default=False,
        ),
    ] = None,
    seed: SeedOption = None,
    json_output: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    yes: YesOption = False,
) -> None:
    """Estimate rollback rates of every scenario, with 95% confidence intervals."""
    with user_errors():
        config, caveats = load_experiment_with_caveats(experiment)
        print_caveats(caveats)
        if config.sweep is not None:
            raise ConfigError(
                f"{experiment}: has a sweep of {config.sweep.n_points:,} grid points; "
                f"run it with `canary-mc sweep {experiment}`"
            )
        base = config.model_copy(update={} if rollouts is None else {"rollouts": rollouts})
        size_check(str(experiment), estimate_work(base), yes=yes)
        total = config.rollouts if rollouts is None else rollouts
        with rollout_progress(total, label=config.name, enabled=not quiet) as advance:
            estimate = run_experiment(config, rollouts=rollouts, seed=seed, on_chunk=advance)
    if json_output:
        typer.echo(json.dumps(estimate.records(), indent=2))
        return
    console = stdout_console()
    for table in estimate_tables(estimate):
        console.print(table)


@app.command()
def trace(
    experiment: ExperimentPath,
    seed: SeedOption = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario", help="Scenario to trace; default: the healthy one.", show_default=False
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show one rollout step by step (rollout 0 of a run with the same seed)."""
    with user_errors():
        config = load_experiment(experiment)
        result = trace_rollout(
            config, scenario=config.healthy_scenario if scenario is None else scenario, seed=seed
        )
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    stdout_console().print(trace_table(result))


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Experiment files to check.")],
) -> None:
    """Check experiment files, and every point of their sweeps, without running them."""
    failed = False
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for file in files:
        try:
            sweep_file = load_sweep_file(file)
            checked = _check_points(sweep_file)
        except CanaryMCError as exc:
            err.print(str(exc), markup=False)
            failed = True
        else:
            print_caveats(sweep_file.caveats)
            scenarios = len(sweep_file.experiment.evaluated_scenarios)
            size = f"{sweep_file.n_points:,} grid point(s) x {scenarios} scenario(s)"
            typer.echo(f"{file}: ok ({size}{'' if checked else '; combinations not checked'})")
    if failed:
        raise typer.Exit(USAGE_ERROR)


MAX_VALIDATED_POINTS = 100_000
"""``validate`` checks every combination of swept values up to this many grid points."""


def _check_points(sweep_file: SweepFile) -> bool:
    if sweep_file.n_points > MAX_VALIDATED_POINTS:
        return False
    for _ in sweep_file.points():
        pass
    return True


class ExecutorChoice(enum.StrEnum):
    """``--executor`` choices."""

    serial = "serial"
    process = "process"
    dask = "dask"


WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Parallel processes; default: the cores available.",
        show_default=False,
    ),
]


@app.command()
def sweep(
    files: Annotated[list[Path], typer.Argument(help="Experiment files (YAML).")],
    out: Annotated[Path, typer.Option("--out", help="Results root folder.")] = Path("results"),
    workers: WorkersOption = None,
    rollouts: Annotated[
        int | None,
        typer.Option(
            "--rollouts",
            min=1,
            max=MAX_ROLLOUTS,
            help="Rollouts per grid point.",
            show_default=False,
        ),
    ] = None,
    seed: SeedOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Discard saved points and start over.")
    ] = False,
    yes: YesOption = False,
    executor_name: Annotated[
        ExecutorChoice, typer.Option("--executor", help="Where grid points run.")
    ] = ExecutorChoice.process,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler address (tcp://HOST:8786); default: $DASK_SCHEDULER_ADDRESS, "
            "else a local cluster of --workers processes.",
            show_default=False,
        ),
    ] = None,
    no_plots: Annotated[
        bool, typer.Option("--no-plots", help="Skip the plots and report.md.")
    ] = False,
    target: Annotated[
        float,
        typer.Option("--target", help="Target false-alarm rate of the report, as a fraction."),
    ] = 0.01,
    chunk_rollouts: Annotated[
        int | None, typer.Option("--chunk-rollouts", min=1, hidden=True)
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="If another sweep is writing the same folder, wait for it."),
    ] = False,
) -> None:
    """Run every grid point x scenario; write summary.parquet and stages.parquet.

    Finished points are saved as they complete, so rerunning an interrupted sweep with
    the same command continues where it stopped.
    """
    workers = default_workers() if workers is None else workers
    with user_errors():
        if not no_plots and not 0 < target < 1:
            raise ConfigError(f"--target must be a fraction between 0 and 1, got {target:g}")
        plans = _plan_all(files, rollouts=rollouts, seed=seed, workers=workers, yes=yes)
        names = [plan.name for plan in plans]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(
                f"experiment names must differ, since each names its results folder: "
                f"{', '.join(repeated)}"
            )
        if scheduler is not None and executor_name is not ExecutorChoice.dask:
            raise ConfigError("--scheduler needs --executor dask")
        for plan in plans:  # before any work: a path and a reason, not a lost point
            check_writable(out / plan.name)
        with make_executor(executor_name.value, workers, scheduler) as executor:
            _run_plans(plans, out, executor, fresh, chunk_rollouts, quiet, no_plots, target, wait)


def _run_plans(
    plans: list[SweepPlan],
    out: Path,
    executor: Executor,
    fresh: bool,
    chunk_rollouts: int | None,
    quiet: bool,
    no_plots: bool,
    target: float,
    wait: bool,
) -> None:
    """Run the validated plans one after the other on one executor, then their reports."""
    from canary_mc.sweep.runner import run_sweep

    err = Console(stderr=True, highlight=False, soft_wrap=True)

    def waiting(pid: int | None) -> None:
        who = f"process {pid}" if pid is not None else "another process"
        err.print(f"waiting for {who}, which is writing {out / plan.name}", markup=False)

    def warn(line: str) -> None:
        err.print(f"warning: {line}", markup=False)

    for plan in plans:
        label = f"{plan.name}"
        started = time.perf_counter()
        with point_progress(len(plan.points), label=label, enabled=not quiet) as done:
            result = run_sweep(
                plan,
                out,
                executor=executor,
                fresh=fresh,
                chunk_rollouts=chunk_rollouts,
                on_point=done,
                on_warning=warn,
                wait=wait,
                on_wait=waiting,
            )
        elapsed = time.perf_counter() - started
        scenarios = len(plan.base.evaluated_scenarios)
        reused = f", {result.reused} reused" if result.reused else ""
        typer.echo(
            f"{plan.name}: {result.n_points:,} point(s) x {scenarios} scenario(s), "
            f"{plan.total_rollouts:,} rollouts in {elapsed:.1f} s{reused} -> "
            f"{result.summary}, {result.stages}"
        )
        if not no_plots:
            from canary_mc.report import build_report  # matplotlib loads only here

            written = build_report(result.directory, target=target)
            report = next((p for p in written if p.suffix == ".md"), None)
            typer.echo(f"{plan.name}: {len(written) - 1} plot(s) and {report}")


def _plan_all(
    files: list[Path],
    *,
    rollouts: int | None,
    seed: int | None,
    workers: int,
    yes: bool,
) -> list[SweepPlan]:
    """Load, size-check and expand every file first, so a bad file stops the run before
    any output, and a grid too large stops it before it is expanded."""
    from canary_mc.sweep.runner import overrides, plan_sweep

    problems = []
    loaded = []
    for file in files:
        try:
            loaded.append(load_sweep_file(file))
        except ExperimentFileError as exc:
            problems += exc.problems
    if problems:
        raise ExperimentFileError(problems)
    for sweep_file in loaded:
        print_caveats(sweep_file.caveats)
    update = overrides(rollouts, seed)
    for sweep_file in loaded:
        estimate = estimate_work(
            sweep_file.experiment.model_copy(update=update),
            n_points=sweep_file.n_points,
            axes=sweep_file.axis_variants(update),
            workers=workers,
        )
        size_check(sweep_file.path, estimate, yes=yes)
    plans = []
    for sweep_file in loaded:
        try:
            plans.append(plan_sweep(sweep_file, rollouts=rollouts, seed=seed))
        except ExperimentFileError as exc:
            problems += exc.problems
    if problems:
        raise ExperimentFileError(problems)
    return plans


@app.command()
def plot(
    results: Annotated[Path, typer.Argument(help="A sweep's results folder, e.g. results/<name>.")],
    target: Annotated[
        float, typer.Option("--target", help="Target false-alarm rate, as a fraction.")
    ] = 0.01,
    rows: Annotated[
        str | None, typer.Option("--rows", help="Swept axis down the panel grid.")
    ] = None,
    cols: Annotated[
        str | None, typer.Option("--cols", help="Swept axis across the panel grid.")
    ] = None,
    facet: Annotated[
        str | None, typer.Option("--facet", help="Swept axis to give one figure per value.")
    ] = None,
) -> None:
    """(Re)draw a sweep's plots and report.md from its Parquet files alone."""
    from canary_mc.report import build_report  # matplotlib loads only when plotting

    with user_errors():
        written = build_report(results, target=target, rows=rows, cols=cols, facet=facet)
    for path in written:
        typer.echo(str(path))


@app.command()
def bench(
    experiment: Annotated[Path, typer.Argument(help="Gaussian experiment to benchmark on.")] = Path(
        "experiments/seed.yaml"
    ),
    counts_experiment: Annotated[
        Path, typer.Option("--counts", help="Counts-model experiment for its RNG floor.")
    ] = Path("experiments/low-traffic.yaml"),
    out: Annotated[Path, typer.Option("--out", help="Folder for bench.json.")] = Path("results"),
    json_output: JsonOption = False,
    quick: Annotated[bool, typer.Option("--quick", hidden=True)] = False,
) -> None:
    """Measure every performance figure in one run, each as a ratio, beside its goal.

    Writes OUT/bench.json with the figures and the machine they were measured on.
    """
    with user_errors():
        for path in (experiment, counts_experiment):
            load_experiment(path)  # a bad file is a user error before anything is timed
        check_writable(out)
        reference, report = run_benchmarks(str(experiment), str(counts_experiment), quick=quick)
        payload = {"engine_vs_reference": reference_dict(reference), **report.to_dict()}
        write_text(out / "bench.json", json.dumps(payload, indent=2) + "\n")
    if json_output:
        typer.echo(json.dumps(payload, indent=2))
        return
    console = stdout_console()
    console.print(bench_table(reference))
    console.print(figures_table(report))
    typer.echo(f"wrote {out / 'bench.json'}")


def main() -> None:
    """Console-script entry point.

    Output cut short by the reader (``| head``) ends the program quietly with exit code 1,
    as rich does for tables; output that cannot be written (a full disk) prints one line
    and exits with code 1. Neither is a user error, so neither uses code 2.

    The command line owns its process, so it keeps freed chunk arrays in the heap
    (:func:`canary_mc.heap.keep_freed_memory`), which makes the engine about 1.5x faster.
    """
    keep_freed_memory()
    try:
        app()
    except BrokenPipeError:
        # Point stdout at devnull so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:
        sys.stderr.write(f"error: cannot write output: {exc.strerror or exc}\n")
        sys.exit(1)
