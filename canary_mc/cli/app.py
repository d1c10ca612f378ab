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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperOption

from canary_mc import __version__
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
    help="Monte Carlo evaluation of canary rollout policies: false-alarm and detection "
    "rates, with 95% confidence intervals, for your policy and your service's noise. "
    "Start with `canary-mc init`, then `canary-mc run FILE`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode="markdown",
)


_READABLE_TYPES = {"path": "PATH", "str": "TEXT", "int": "N", "int range": "N", "float": "NUMBER"}
"""Value labels for options without a metavar, by typer's type label (``<list[str]>``
counts as ``str``: a repeatable option takes one value each time)."""


def _readable_option_type(self: TyperOption, ctx: Any) -> str | None:
    """No label for a flag (``--quiet`` takes no value, so ``<bool>`` misleads); a plain
    word for a value's type (``PATH``, ``TEXT``, ``N``), not a Python annotation."""
    if self.is_flag:
        return None
    shown = _option_type(self, ctx)
    if shown is None or self.metavar is not None:
        return shown
    inner = shown.strip("<>").removeprefix("list[").removesuffix("]")
    return _READABLE_TYPES.get(inner, inner)


# typer 0.29 labels every flag ``<bool>`` (its own --help included), every other option
# with its Python type (``<list[str]>``), and every argument too; an argument's metavar
# already says what it is. The CLI owns the process, so it rewrites those labels here,
# once, on import.
_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _readable_option_type  # type: ignore[method-assign]
TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"canary-mc {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options of every command (``--version``)."""


ExperimentPath = Annotated[
    Path, typer.Argument(help="Experiment file (YAML).", metavar="FILE", show_default=False)
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed",
        min=0,
        max=MAX_SEED,
        metavar="N",
        help="Override the file's seed.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
PrecisionOption = Annotated[
    float | None,
    typer.Option(
        "--precision",
        metavar="H",
        help="Add rollouts until every rate's 95% half-width is at most this fraction "
        "(default: the file's precision).",
        show_default=False,
    ),
]


class ExportTarget(enum.StrEnum):
    """Manifest formats of ``export`` and ``tune --export``."""

    argo = "argo"
    flagger = "flagger"
    kayenta = "kayenta"


MaxRolloutsOption = Annotated[
    int | None,
    typer.Option(
        "--max-rollouts",
        min=1,
        metavar="N",
        help="Cap of an adaptive run (default: the file's max_rollouts).",
        show_default=False,
    ),
]


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
            metavar="N",
            max=MAX_ROLLOUTS,
            help="Override the file's rollouts.",
            show_default=False,
        ),
    ] = None,
    seed: SeedOption = None,
    json_output: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    precision: PrecisionOption = None,
    max_rollouts: MaxRolloutsOption = None,
    yes: YesOption = False,
) -> None:
    """Estimate rollback rates of every scenario, with 95% confidence intervals."""
    stopped = None
    with user_errors():
        config, caveats = load_experiment_with_caveats(experiment)
        print_caveats(caveats)
        if config.sweep is not None:
            raise ConfigError(
                f"{experiment}: has a sweep of {config.sweep.n_points:,} grid points; "
                f"run it with `canary-mc sweep {experiment}`"
            )
        from canary_mc.tune.calibrate import calibrate_experiment, needs_calibration

        precision = config.precision if precision is None else precision
        cap = config.max_rollouts if max_rollouts is None else max_rollouts
        planned = cap if precision is not None else rollouts
        base = config.model_copy(update={} if planned is None else {"rollouts": planned})
        size_check(str(experiment), estimate_work(base), yes=yes)
        if needs_calibration(config):
            config = calibrate_experiment(config)
            typer.echo(
                f"calibrated z-test: critical value {config.policy.rule.critical_value:g} "
                f"(size {config.policy.rule.alpha:g} on the file's traffic plan)",
                err=True,
            )
        if precision is not None:
            from canary_mc.tune.precision import run_to_precision

            stopped = run_to_precision(config, precision=precision, max_rollouts=cap, seed=seed)
            estimate = stopped.estimate
        else:
            total = config.rollouts if rollouts is None else rollouts
            with rollout_progress(total, label=config.name, enabled=not quiet) as advance:
                estimate = run_experiment(config, rollouts=rollouts, seed=seed, on_chunk=advance)
    if json_output:
        records = estimate.records()
        if stopped is not None:
            for record in records:
                record["adaptive"] = stopped.to_dict()
        typer.echo(json.dumps(records, indent=2))
        return
    console = stdout_console()
    for table in estimate_tables(estimate):
        console.print(table)
    if stopped is not None:
        typer.echo(precision_line(stopped))


def precision_line(stopped) -> str:
    """How an adaptive run stopped, in one line."""
    level = f"{stopped.estimate.confidence:.4f}"
    if stopped.reached:
        return (
            f"adaptive precision: {stopped.n_rollouts:,} rollouts used; every rate within "
            f"+-{stopped.half_width:.4g} (asked {stopped.precision:g}); intervals at level "
            f"{level} per look over {len(stopped.looks)} looks, so 95% overall"
        )
    return (
        f"adaptive precision NOT reached: stopped at --max-rollouts {stopped.n_rollouts:,} "
        f"with half-width {stopped.half_width:.4g} > {stopped.precision:g}; intervals at "
        f"level {level}"
    )


@app.command()
def trace(
    experiment: ExperimentPath,
    seed: SeedOption = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            metavar="NAME",
            help="Scenario to trace; default: the healthy one.",
            show_default=False,
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
    files: Annotated[list[Path], typer.Argument(help="Experiment files to check.", metavar="FILE")],
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
        metavar="N",
        help="Parallel processes; default: the cores available.",
        show_default=False,
    ),
]


@app.command()
def sweep(
    files: Annotated[list[Path], typer.Argument(help="Experiment files (YAML).", metavar="FILE")],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Results root folder.")] = Path(
        "results"
    ),
    workers: WorkersOption = None,
    rollouts: Annotated[
        int | None,
        typer.Option(
            "--rollouts",
            min=1,
            max=MAX_ROLLOUTS,
            metavar="N",
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
            metavar="ADDRESS",
            help="Dask scheduler address (tcp://HOST:8786); default: $DASK_SCHEDULER_ADDRESS, "
            "else a local cluster of --workers processes.",
            show_default=False,
        ),
    ] = None,
    no_plots: Annotated[
        bool, typer.Option("--no-plots", help="Skip the plots and report.md.")
    ] = False,
    target: Annotated[
        float | None,
        typer.Option(
            "--target",
            metavar="FRACTION",
            help="Target false-alarm rate of the report, as a fraction "
            "(default: the file's report.false_alarm_target, else 0.01).",
            show_default=False,
        ),
    ] = None,
    chunk_rollouts: Annotated[
        int | None, typer.Option("--chunk-rollouts", min=1, hidden=True)
    ] = None,
    precision: PrecisionOption = None,
    max_rollouts: MaxRolloutsOption = None,
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
        if not no_plots and target is not None and not 0 < target < 1:
            raise ConfigError(f"--target must be a fraction between 0 and 1, got {target:g}")
        if precision is not None:
            from canary_mc.tune.precision import DEFAULT_MAX_ROLLOUTS, check_precision

            check_precision(precision, max_rollouts or DEFAULT_MAX_ROLLOUTS)
        plans = _plan_all(
            files,
            rollouts=rollouts,
            seed=seed,
            workers=workers,
            yes=yes,
            precision=precision,
            max_rollouts=max_rollouts,
        )
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
    target: float | None,
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
        simulated_rollouts = [0]  # rollouts of the points simulated now, not reused
        started = time.perf_counter()
        with point_progress(len(plan.points), label=plan.name, enabled=not quiet) as advance:

            def done(
                rollouts: int,
                advance: Callable[[int], None] = advance,
                simulated_rollouts: list[int] = simulated_rollouts,
            ) -> None:
                simulated_rollouts[0] += rollouts
                advance(rollouts)

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
        typer.echo(
            sweep_summary_line(
                plan.name,
                n_points=result.n_points,
                n_scenarios=len(plan.base.evaluated_scenarios),
                reused=result.reused,
                simulated_rollouts=simulated_rollouts[0],
                seconds=time.perf_counter() - started,
            )
            + (
                ""
                if plan.base.precision is None
                else f" at adaptive precision {plan.base.precision:g}"
            )
            + f" -> {result.summary}, {result.stages}"
        )
        if not no_plots:
            from canary_mc.report import build_report  # matplotlib loads only here

            # The file may name its own target (rules.yaml is calibrated to 5%).
            own = plan.base.report.false_alarm_target
            chosen = target if target is not None else (own if own is not None else 0.01)
            written = build_report(result.directory, target=chosen)
            plots = sum(p.suffix == ".png" for p in written)
            reports = " and ".join(str(p) for p in written if p.suffix != ".png")
            typer.echo(f"{plan.name}: {plots} plot(s), {reports}")


def sweep_summary_line(
    name: str,
    *,
    n_points: int,
    n_scenarios: int,
    reused: int,
    simulated_rollouts: int,
    seconds: float,
) -> str:
    """What a sweep did: points simulated (with their rollouts and time) and reused.

    >>> sweep_summary_line("loose", n_points=33, n_scenarios=4, reused=33,
    ...                    simulated_rollouts=0, seconds=0.1)
    'loose: 33 points x 4 scenarios: 33 points reused, 0 simulated'
    """
    simulated = n_points - reused
    line = f"{name}: {_count(n_points, 'point')} x {_count(n_scenarios, 'scenario')}: "
    if simulated == 0:
        return line + f"{_count(reused, 'point')} reused, 0 simulated"
    line += (
        f"{_count(simulated, 'point')} simulated ({simulated_rollouts:,} rollouts "
        f"in {seconds:.1f} s)"
    )
    return line + (f", {_count(reused, 'point')} reused" if reused else "")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _plan_all(
    files: list[Path],
    *,
    rollouts: int | None,
    seed: int | None,
    workers: int,
    yes: bool,
    precision: float | None = None,
    max_rollouts: int | None = None,
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
    for sweep_file in loaded:
        update = overrides(rollouts, seed)
        base = sweep_file.experiment
        if (precision if precision is not None else base.precision) is not None:
            # An adaptive run may use up to its cap: estimate that.
            update["rollouts"] = base.max_rollouts if max_rollouts is None else max_rollouts
        estimate = estimate_work(
            base.model_copy(update=update),
            n_points=sweep_file.n_points,
            axes=sweep_file.axis_variants(update),
            workers=workers,
        )
        size_check(sweep_file.path, estimate, yes=yes)
    plans = []
    for sweep_file in loaded:
        try:
            plans.append(
                plan_sweep(
                    sweep_file,
                    rollouts=rollouts,
                    seed=seed,
                    precision=precision,
                    max_rollouts=max_rollouts,
                )
            )
        except ExperimentFileError as exc:
            problems += exc.problems
    if problems:
        raise ExperimentFileError(problems)
    from canary_mc.tune.calibrate import needs_calibration

    for plan in plans:
        if any(needs_calibration(experiment) for _, _, experiment in plan.points):
            raise ConfigError(
                f"{plan.sweep_file.path}: policy.rule.correction: calibrated: sweep does not "
                "calibrate each point; set policy.rule.critical_value (printed by "
                "`canary-mc run`) or tune it with `canary-mc tune`"
            )
    return plans


@app.command()
def plot(
    results: Annotated[
        Path,
        typer.Argument(help="A sweep's results folder, e.g. results/NAME.", metavar="RESULTS_DIR"),
    ],
    target: Annotated[
        float | None,
        typer.Option(
            "--target",
            metavar="FRACTION",
            help="Target false-alarm rate, as a fraction (default: the experiment's "
            "report.false_alarm_target, else 0.01).",
            show_default=False,
        ),
    ] = None,
    rows: Annotated[
        str | None,
        typer.Option("--rows", metavar="AXIS", help="Swept axis down the panel grid."),
    ] = None,
    cols: Annotated[
        str | None,
        typer.Option("--cols", metavar="AXIS", help="Swept axis across the panel grid."),
    ] = None,
    facet: Annotated[
        str | None,
        typer.Option("--facet", metavar="AXIS", help="Swept axis to give one figure per value."),
    ] = None,
) -> None:
    """(Re)draw a sweep's plots and report.md from its Parquet files alone."""
    from canary_mc.report import build_report  # matplotlib loads only when plotting

    with user_errors():
        if target is None:
            from canary_mc.report.results import read_results

            own = read_results(results).config.get("report", {}).get("false_alarm_target")
            target = 0.01 if own is None else float(own)
        written = build_report(results, target=target, rows=rows, cols=cols, facet=facet)
    for path in written:
        typer.echo(str(path))


def stdin_is_terminal() -> bool:
    """Whether someone can answer questions (``init`` asks only then)."""
    return sys.stdin.isatty()


def _ask(value: Any, question: str, default: Any, interactive: bool, kind: type) -> Any:
    """A flag's value, else (on a terminal) the answer to ``question``, else the default."""
    if value is not None:
        return value
    if not interactive:
        return default
    shown = f"{default:g}" if isinstance(default, float) else default
    return typer.prompt(question, default=shown, type=kind)


@app.command()
def init(
    out: Annotated[
        Path | None,
        typer.Argument(
            help="File to write; default: NAME.yaml in the current folder.",
            metavar="[FILE]",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="Experiment name.")
    ] = None,
    requests_per_second: Annotated[
        float | None,
        typer.Option(
            "--requests-per-second", metavar="RPS", help="Requests per second the service serves."
        ),
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option("--interval", metavar="SECONDS", help="Seconds between analysis checks."),
    ] = None,
    error_rate: Annotated[
        float | None,
        typer.Option(
            "--error-rate", metavar="FRACTION", help="Share of requests that fail (0.005 is 0.5%)."
        ),
    ] = None,
    latency_ms: Annotated[
        float | None,
        typer.Option("--latency-ms", metavar="MS", help="Median request latency."),
    ] = None,
    stages: Annotated[
        str | None,
        typer.Option(
            "--stages", metavar="PCTS", help="Canary traffic per stage, in percent: 1,5,25,50."
        ),
    ] = None,
    checks_per_stage: Annotated[
        int | None,
        typer.Option("--checks-per-stage", metavar="N", help="Analysis checks in each stage."),
    ] = None,
    error_threshold: Annotated[
        float | None,
        typer.Option(
            "--error-threshold",
            metavar="FRACTION",
            help="Error-rate increase that fails a check (0.01 is one point).",
        ),
    ] = None,
    latency_threshold_ms: Annotated[
        float | None,
        typer.Option(
            "--latency-threshold-ms", metavar="MS", help="p95 latency increase that fails a check."
        ),
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Ask nothing: flags, else the defaults (for CI).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Write a commented starter experiment for the counts model.

    On a terminal it asks for what a flag does not give: your service's traffic, error
    rate and latency, the stages and the analysis interval. Elsewhere (CI, a pipe) or with
    `--no-input`, flags and the defaults fill it in. Then `canary-mc run FILE`.
    """
    from canary_mc.io.starter import StarterAnswers, parse_stages, starter_experiment

    interactive = not no_input and stdin_is_terminal()
    d = StarterAnswers()

    def ask(value: Any, question: str, default: Any, kind: type) -> Any:
        return _ask(value, question, default, interactive, kind)

    with user_errors():
        name = ask(name, "Experiment name", d.name, str)
        requests_per_second = ask(
            requests_per_second, "Requests per second your service serves", d.requests_per_second,
            float,
        )  # fmt: skip
        error_rate = ask(
            error_rate, "Share of requests that fail (0.005 is 0.5%)", d.error_rate, float
        )
        latency_ms = ask(latency_ms, "Median request latency (ms)", d.latency_ms, float)
        interval = ask(interval, "Seconds between analysis checks", d.interval_s, float)
        stages = ask(
            stages, "Canary traffic per stage, in percent",
            ",".join(f"{p:g}" for p in d.stages_pct), str,
        )  # fmt: skip
        stages_pct = parse_stages(stages)
        checks_per_stage = ask(checks_per_stage, "Checks per stage", d.checks_per_stage, int)
        error_threshold = ask(
            error_threshold, "Error-rate increase that fails a check (0.01 is one point)",
            d.error_threshold, float,
        )  # fmt: skip
        latency_threshold_ms = ask(
            latency_threshold_ms, "p95 latency increase that fails a check (ms)",
            d.latency_threshold_ms, float,
        )  # fmt: skip
        answers = StarterAnswers(
            name=name,
            requests_per_second=requests_per_second,
            interval_s=interval,
            error_rate=error_rate,
            latency_ms=latency_ms,
            stages_pct=stages_pct,
            checks_per_stage=checks_per_stage,
            error_threshold=error_threshold,
            latency_threshold_ms=latency_threshold_ms,
        )
        text = starter_experiment(answers)
        path = Path(f"{answers.name}.yaml") if out is None else out
        if path.exists() and not force:
            raise ConfigError(f"{path}: already exists; pass --force to overwrite it")
        write_text(path, text)
    typer.echo(f"wrote {path}; next: canary-mc validate {path} && canary-mc run {path}")


@app.command()
def tune(
    experiment: ExperimentPath,
    false_alarm: Annotated[
        float, typer.Option("--false-alarm", help="False-alarm budget, as a fraction.")
    ] = 0.01,
    knob: Annotated[
        list[str] | None,
        typer.Option(
            "--knob",
            help="Sweep path to tune, optionally PATH=LO:HI; repeat for several. "
            "Default: the rule's natural knob.",
            show_default=False,
        ),
    ] = None,
    maximize: Annotated[
        str,
        typer.Option("--maximize", help="Detection objective: SCENARIO, mean, or NAME:WEIGHT,..."),
    ] = "mean",
    rollouts: Annotated[
        int | None,
        typer.Option(
            "--rollouts",
            min=1,
            help="Rollouts per evaluation (default: the file's).",
            show_default=False,
        ),
    ] = None,
    seed: SeedOption = None,
    precision: PrecisionOption = None,
    max_rollouts: MaxRolloutsOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "-o", "--out", help="Write the tuned experiment file here.", show_default=False
        ),
    ] = None,
    plot_path: Annotated[
        Path | None,
        typer.Option("--plot", help="Write the trade-off plot (PNG) here.", show_default=False),
    ] = None,
    export: Annotated[
        ExportTarget | None,
        typer.Option(
            "--export",
            help="Also write the tuned policy as Argo Rollouts or Flagger manifests, beside -o "
            "(OUT with suffix .argo.yaml / .flagger.yaml).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """The best knob setting whose false-alarm rate's upper 95% bound is within budget."""
    from canary_mc.tune import tune_file
    from canary_mc.tune.report import provenance, tune_records, tuned_values

    with user_errors():
        sweep_file = load_sweep_file(experiment)
        print_caveats(sweep_file.caveats)
        if export is not None and out is None:
            raise ConfigError("--export writes the manifest of the tuned file: give -o FILE too")
        run = tune_file(
            sweep_file,
            budget=false_alarm,
            knob_specs=knob or (),
            maximize=maximize,
            rollouts=rollouts,
            seed=seed,
            precision=precision,
            max_rollouts=max_rollouts,
            curve=plot_path is not None,
        )
    result = run.result
    if json_output:
        typer.echo(json.dumps(tune_records(run), indent=2))
    else:
        _print_tuning(run)
    if result.best is None:
        raise typer.Exit(1)
    with user_errors():  # a write that fails names its path, exit 2
        if out is not None:
            from canary_mc.io.tuned_file import tuned_text

            text = tuned_text(
                sweep_file.text, tuned_values(sweep_file, result), provenance(run, str(experiment))
            )
            write_text(out, text)
            typer.echo(f"wrote {out}")
            if export is not None:
                from canary_mc.manifests.export import export_experiment

                manifest = out.with_suffix(f".{export.value}.yaml")
                write_text(manifest, export_experiment(out, target=export.value))
                typer.echo(f"wrote {manifest}")
        if plot_path is not None:
            from canary_mc.io.atomic import atomic_path
            from canary_mc.tune.plot import plot_tradeoff, tradeoff_frame

            fig = plot_tradeoff(tradeoff_frame(result), result.budget)
            with atomic_path(plot_path) as tmp:
                fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
            typer.echo(f"wrote {plot_path}")


def _print_tuning(run) -> None:
    from canary_mc.cli.render import tune_table
    from canary_mc.tune.report import summary_lines

    result = run.result
    console = stdout_console()
    if result.best is not None:
        console.print(tune_table(result))
    for line in summary_lines(run):
        typer.echo(line)


@app.command()
def bench(
    experiment: Annotated[
        Path, typer.Argument(help="Gaussian experiment to benchmark on.", metavar="FILE")
    ] = Path("experiments/seed.yaml"),
    counts_experiment: Annotated[
        Path,
        typer.Option("--counts", metavar="FILE", help="Counts-model experiment for its RNG floor."),
    ] = Path("experiments/low-traffic.yaml"),
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Folder for bench.json.")
    ] = Path("results"),
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


# --- import / export: Argo Rollouts, Flagger and Kayenta manifests (docs/import.md) ----------


def _write_or_echo(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    write_text(out, text)
    Console(stderr=True, highlight=False).print(f"wrote {out}", markup=False)


@app.command()
def fit(
    data: Annotated[
        list[Path], typer.Argument(help="Prometheus query_range JSON files, CSV or Parquet.")
    ],
    interval: Annotated[
        str | None,
        typer.Option("--interval", help="Evaluation interval (1m, 5m); default: the data's step."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="Write the service/noise YAML here, not to stdout."),
    ] = None,
    plot_dir: Annotated[
        Path | None, typer.Option("--plot", help="Draw the goodness-of-fit plots in this folder.")
    ] = None,
    series: Annotated[
        list[str] | None,
        typer.Option(
            "--series",
            help="NAME=ROLE: requests, errors, latency_buckets, "
            "latency_pNN, gauge (add :counter for a raw counter).",
        ),
    ] = None,
    period: Annotated[str, typer.Option("--period", help="Length of the traffic cycle.")] = "1d",
    method: Annotated[
        str,
        typer.Option("--method", help="Error fit: ml (maximum likelihood) or moments."),
    ] = "ml",
) -> None:
    """Fit the counts model (service and noise) to a service's own metrics, and show how
    well it fits."""
    from canary_mc.cli.fit_tables import (
        findings_lines,
        goodness_table,
        latency_table,
        parameter_table,
    )
    from canary_mc.fit import fit_files, fit_yaml

    with user_errors():
        result = fit_files(
            data, series=series or (), interval=interval, period=period, method=method
        )
    text = fit_yaml(result, [str(p) for p in data])
    console = stdout_console() if out is not None else Console(stderr=True, width=120)
    for table in (parameter_table(result), goodness_table(result), latency_table(result)):
        if table is not None:
            console.print(table)
    for line in findings_lines(result):
        console.print(line, markup=False, highlight=False)
    with user_errors():  # a write that fails names its path, exit 2
        _write_or_echo(text, out)
        if plot_dir is not None:
            from canary_mc.fit.plots import write_fit_plots

            for path in write_fit_plots(result, plot_dir):
                console.print(f"wrote {path}", markup=False, highlight=False)


@app.command("import")
def import_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Manifests: Kubernetes YAML (Rollout, Canary, templates) or Kayenta JSON."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Experiment file to write (default: stdout).")
    ] = None,
    service: Annotated[
        Path | None,
        typer.Option("--service", help="YAML with service (and noise, scenarios) to use."),
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric", help="A metric's kind: NAME=KIND (latency:p99, success_rate:percent)."
        ),
    ] = None,
) -> None:
    """Translate a canary policy into an experiment file citing every source line."""
    from canary_mc.manifests import import_manifests, read_world
    from canary_mc.manifests.kinds import parse_metric_overrides

    with user_errors():
        overrides = parse_metric_overrides(metric or [])
        world = read_world(service) if service is not None else None
        imported = import_manifests(files, overrides=overrides, world=world)
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        for note in imported.notes:
            err.print(f"not modelled: {note}", markup=False)
        _write_or_echo(imported.text, out)


@app.command("export")
def export_command(
    target: Annotated[ExportTarget, typer.Argument(help="argo, flagger or kayenta.")],
    experiment: ExperimentPath,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Manifest file to write (default: stdout).")
    ] = None,
) -> None:
    """Write an experiment's policy as Argo Rollouts or Flagger manifests, or a Kayenta config."""
    from canary_mc.manifests.export import export_experiment

    with user_errors():
        _write_or_echo(export_experiment(experiment, target=target.value), out)


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
