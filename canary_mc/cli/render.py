"""Rich renderings of results for the terminal. Pure: objects in, renderables out.

Every name that comes from an experiment file is escaped: ``[red]`` in a scenario name is
text, not markup.
"""

from __future__ import annotations

import numpy as np
from rich.markup import escape
from rich.table import Table

from canary_mc.bench import BenchReport, EngineVsReference
from canary_mc.engine.trace import Trace
from canary_mc.stats.estimate import ExperimentEstimate, Rate


def percent(value: float) -> str:
    """A fraction as a percentage: two decimals from 1% up, three significant digits below.

    >>> percent(0.19917), percent(0.000125), percent(0.0)
    ('19.92', '0.0125', '0')
    """
    scaled = 100 * value
    if scaled == 0:
        return "0"
    if scaled >= 1:
        return f"{scaled:.2f}"
    return np.format_float_positional(scaled, precision=3, fractional=False, trim="-")


def rate_with_interval(rate: Rate) -> str:
    """``19.92% (19.74–20.09)``: the estimate and its 95% interval, in percent."""
    return f"{percent(rate.rate)}% ({percent(rate.lo)}–{percent(rate.hi)})"


def estimate_tables(estimate: ExperimentEstimate) -> list[Table]:
    """A table of scenarios and one of per-stage rollback fractions, with 95% intervals."""
    scenarios = Table(
        title=(
            f"{escape(estimate.experiment)}: {estimate.n_rollouts:,} rollouts per scenario, "
            f"seed {estimate.seed} (95% intervals: Clopper–Pearson for rates)"
        ),
        title_justify="left",
    )
    metric_names = list(estimate.scenarios[0].rollbacks_by_reason)
    timed = estimate.scenarios[0].minutes_per_step is not None
    for column in (
        "scenario",
        "rollback rate",
        "completed",
        "rollbacks " + " / ".join(escape(n) for n in metric_names),
        "mean steps to decision (95% CI)",
        *(["mean minutes to decision"] if timed else []),
    ):
        scenarios.add_column(column, justify="left" if column == "scenario" else "right")
    for s in estimate.scenarios:
        label = f"{s.scenario} (healthy)" if s.healthy and s.scenario != "healthy" else s.scenario
        if s.mean_steps_lo is None or s.mean_steps_hi is None:
            steps = f"{s.mean_steps_to_decision:.3f} (no CI, n < 30)"
        else:
            steps = (
                f"{s.mean_steps_to_decision:.3f} ± {s.mean_steps_hi - s.mean_steps_to_decision:.3f}"
            )
        scenarios.add_row(
            escape(label),
            rate_with_interval(s.rollback),
            rate_with_interval(s.completed),
            " / ".join(f"{s.rollbacks_by_reason[n]:,}" for n in metric_names),
            steps,
            *([_minutes(s)] if timed else []),
        )
    scenarios.caption = (
        f"false-alarm rate ({escape(estimate.healthy_scenario)}): "
        f"{rate_with_interval(estimate.false_alarm)}"
    )
    for stage, metrics in _unchecked_by_stage(estimate).items():
        scenarios.caption += (
            f"\nnot checked at stage {escape(stage)}: {escape(', '.join(metrics))} "
            "(delta/ratio; the baseline serves no requests there)"
        )
    scenarios.caption_justify = "left"

    stages = Table(
        title="where rollbacks happen: share of all rollouts rolled back in each stage (95% CI)",
        title_justify="left",
    )
    stages.add_column("stage")
    stages.add_column("traffic", justify="right")
    for s in estimate.scenarios:
        stages.add_column(escape(s.scenario), justify="right")
    for i, first in enumerate(estimate.scenarios[0].stages):
        stages.add_row(
            escape(first.stage),
            f"{first.traffic_pct:g}%",
            *(rate_with_interval(s.stages[i].rollback_fraction) for s in estimate.scenarios),
        )
    tables = [scenarios, stages]
    if all(s.blast is not None for s in estimate.scenarios):
        tables.append(blast_table(estimate))
    return tables


def _minutes(s) -> str:
    lo, hi = s.minutes(s.mean_steps_lo), s.minutes(s.mean_steps_hi)
    mean = s.minutes(s.mean_steps_to_decision)
    if lo is None or hi is None:
        return f"{mean:.1f} min"
    return f"{mean:.1f} ± {hi - mean:.1f} min"


def _unchecked_by_stage(estimate: ExperimentEstimate) -> dict[str, list[str]]:
    by_stage: dict[str, list[str]] = {}
    for stage, metric in estimate.unchecked:
        by_stage.setdefault(stage, []).append(metric)
    return by_stage


def _mean(value: float, lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return f"{value:,.2f} (no CI, n < 30)"
    return f"{value:,.2f} ({lo:,.2f}–{hi:,.2f})"


def blast_table(estimate: ExperimentEstimate) -> Table:
    """Counts model: canary requests and excess errors served before the decision."""
    table = Table(
        title="blast radius per rollout, up to the decision (95% CI)",
        title_justify="left",
    )
    for column in (
        "scenario",
        "canary requests (mean)",
        "excess errors (mean)",
        "excess errors (p95)",
    ):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for s in estimate.scenarios:
        b = s.blast
        table.add_row(
            escape(s.scenario),
            _mean(b.canary_requests_mean, b.canary_requests_mean_lo, b.canary_requests_mean_hi),
            _mean(b.excess_errors_mean, b.excess_errors_mean_lo, b.excess_errors_mean_hi),
            f"{b.excess_errors_p95:,} ({b.excess_errors_p95_lo:,}–{b.excess_errors_p95_hi:,})",
        )
    table.caption = "excess errors: errors the fault caused, beyond the healthy canary's"
    table.caption_justify = "left"
    return table


def trace_table(trace: Trace) -> Table:
    """One row per evaluated step, the decision last."""
    table = Table(
        title=(
            f"{escape(trace.experiment)}: scenario {escape(repr(trace.scenario))}, "
            f"seed {trace.seed} (baseline {trace.snapshots[0].baseline_error_rate:.4f} errors, "
            f"{trace.snapshots[0].baseline_latency_ms:g} ms)"
        ),
        title_justify="left",
    )
    first = trace.snapshots[0]
    timed = first.minute is not None
    checks = (
        [escape(f"{name} / limits") for name, *_ in first.metrics]
        if first.metrics
        else ["canary err", "Δ err / limit", "canary lat", "Δ lat / limit"]
    )
    for column in ("step", *(["minute"] if timed else []), "stage", "traffic", "phase",
                   *checks, "verdict"):  # fmt: skip
        table.add_column(
            column, justify="left" if column in ("stage", "phase", "verdict") else "right"
        )
    for s in trace.snapshots:
        if s.metrics:
            readings = [_reading(value, high, low) for _, value, high, low in s.metrics]
        else:
            readings = [
                f"{s.canary_error_rate:.4f}",
                f"{s.error_delta:+.4f} / {s.error_threshold:.4f}",
                f"{s.canary_latency_ms:.1f} ms",
                f"{s.latency_delta_ms:+.1f} / {s.latency_threshold_ms:g} ms",
            ]
        table.add_row(
            str(s.step),
            *([f"{s.minute:g}"] if timed else []),
            escape(s.stage),
            f"{s.traffic_pct:g}%",
            s.phase.value,
            *readings,
            s.verdict if s.verdict == "pass" else f"[bold red]{escape(s.verdict)}[/]",
        )
    outcome = f"{trace.phase.value}: {trace.stages_completed}/{trace.total_stages} stages completed"
    if trace.rollback_reason:
        outcome += f"; {escape(trace.rollback_reason)}"
    table.caption = outcome
    table.caption_justify = "left"
    return table


def _reading(value: float, high: float | None, low: float | None) -> str:
    """A metric's compared value beside its limits: ``98.7 / [99, -]``."""
    bounds = f"[{'-' if low is None else f'{low:g}'}, {'-' if high is None else f'{high:g}'}]"
    return escape(f"{value:.4g} / {bounds}")


def bench_table(result: EngineVsReference) -> Table:
    """Side-by-side throughput and ratios, with the goal and whether it was met."""
    table = Table(
        title=(
            f"engine vs scalar reference on {escape(result.experiment)} (as written, and its "
            f"healthy scenario alone), one process ({result.cores} cores seen, "
            f"numpy {result.numpy_version}, Python {result.python_version})"
        ),
        title_justify="left",
    )
    table.add_column("comparison")
    table.add_column("implementation")
    table.add_column("rollouts timed", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("rollouts/s", justify="right")
    table.add_column("ratio", justify="right")
    pairs = (
        ("the file as written", result.engine_all, result.reference_all, result.whole_experiment),
        ("one scenario, end to end", result.engine, result.reference, result.end_to_end),
        ("one scenario, decisions", result.engine_kernels, result.reference_decisions,
         result.decisions),
    )  # fmt: skip
    for label, fast, slow, ratio in pairs:
        table.add_row(
            label, fast.name, f"{fast.rollouts:,}", f"{fast.seconds:.3f}",
            f"{fast.rollouts_per_second:,.0f}", f"{ratio:,.0f}x",
        )  # fmt: skip
        table.add_row(
            "", slow.name, f"{slow.rollouts:,}", f"{slow.seconds:.3f}",
            f"{slow.rollouts_per_second:,.0f}", "1x", end_section=True,
        )  # fmt: skip

    def verdict(ratio: float) -> str:
        return "met" if ratio >= result.GOAL else "NOT met"

    table.caption = (
        f"goal: engine >= {result.GOAL:g}x the scalar reference on one core: "
        f"{verdict(result.whole_experiment)} on the file as written "
        f"({result.whole_experiment:.0f}x); {verdict(result.end_to_end)} for a single "
        f"scenario end to end ({result.end_to_end:.0f}x, decisions only "
        f"{result.decisions:.0f}x)"
    )
    table.caption_justify = "left"
    return table


def figures_table(report: BenchReport) -> Table:
    """Every other bench figure: ours, the baseline, their ratio, the goal, met or not."""
    machine = report.machine
    table = Table(
        title=(
            f"performance figures ({machine['cores_seen']} cores seen, Python "
            f"{machine['python']}, numpy {machine['numpy']}, BLAS {escape(str(machine['blas']))})"
        ),
        title_justify="left",
    )
    table.add_column("figure")
    table.add_column("what is compared")
    table.add_column("ours", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("goal", justify="right")
    table.add_column("met")
    for f in report.figures:
        table.add_row(
            f.name, escape(f.what), f"{f.ours:.3f} {f.unit}", f"{f.baseline:.3f} {f.unit}",
            f"{f.ratio:.2f}x",
            "-" if f.goal is None else f"{'>=' if f.higher_is_better else '<='} {f.goal:g}x",
            {True: "yes", False: "NO", None: "-"}[f.met],
        )  # fmt: skip
    return table
