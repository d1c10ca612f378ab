"""Rich renderings of results for the terminal. Pure: objects in, renderables out."""

from __future__ import annotations

from rich.table import Table

from canary_mc.bench import EngineVsReference
from canary_mc.engine.trace import Trace
from canary_mc.stats.estimate import ExperimentEstimate, Rate


def pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def rate_with_interval(rate: Rate) -> str:
    """``19.92% (19.74–20.09)``: the estimate and its 95% interval, in percent."""
    return f"{pct(rate.rate)} ({100 * rate.lo:.2f}–{100 * rate.hi:.2f})"


def estimate_tables(estimate: ExperimentEstimate) -> list[Table]:
    """A table of scenarios and one of per-stage rollback fractions, with 95% intervals."""
    scenarios = Table(
        title=(
            f"{estimate.experiment}: {estimate.n_rollouts:,} rollouts per scenario, "
            f"seed {estimate.seed} (95% Wilson intervals)"
        ),
        title_justify="left",
    )
    for column in (
        "scenario",
        "rollback rate (95% CI)",
        "completed",
        "rollbacks: error / latency",
        "mean steps to decision",
    ):
        scenarios.add_column(column, justify="left" if column == "scenario" else "right")
    for s in estimate.scenarios:
        label = f"{s.scenario} (healthy)" if s.healthy and s.scenario != "healthy" else s.scenario
        scenarios.add_row(
            label,
            rate_with_interval(s.rollback),
            pct(s.completed.rate),
            f"{s.rollbacks_by_reason['error']:,} / {s.rollbacks_by_reason['latency']:,}",
            f"{s.mean_steps_to_decision:.3f} ± {s.mean_steps_hi - s.mean_steps_to_decision:.3f}",
        )
    fa = estimate.false_alarm
    scenarios.caption = f"false-alarm rate ({estimate.healthy_scenario}): {rate_with_interval(fa)}"
    scenarios.caption_justify = "left"

    stages = Table(
        title="where rollbacks happen: share of all rollouts rolled back in each stage (95% CI)",
        title_justify="left",
    )
    stages.add_column("stage")
    stages.add_column("traffic", justify="right")
    for s in estimate.scenarios:
        stages.add_column(s.scenario, justify="right")
    for i, first in enumerate(estimate.scenarios[0].stages):
        stages.add_row(
            first.stage,
            f"{first.traffic_pct:g}%",
            *(rate_with_interval(s.stages[i].rollback_fraction) for s in estimate.scenarios),
        )
    return [scenarios, stages]


def trace_table(trace: Trace) -> Table:
    """One row per evaluated step, the decision last."""
    table = Table(
        title=(
            f"{trace.experiment}: scenario {trace.scenario!r}, seed {trace.seed} "
            f"(baseline {trace.snapshots[0].baseline_error_rate:.4f} errors, "
            f"{trace.snapshots[0].baseline_latency_ms:g} ms)"
        ),
        title_justify="left",
    )
    for column in (
        "step",
        "stage",
        "traffic",
        "phase",
        "canary err",
        "Δ err / limit",
        "canary lat",
        "Δ lat / limit",
        "verdict",
    ):
        table.add_column(
            column, justify="left" if column in ("stage", "phase", "verdict") else "right"
        )
    for s in trace.snapshots:
        table.add_row(
            str(s.step),
            s.stage,
            f"{s.traffic_pct:g}%",
            s.phase.value,
            f"{s.canary_error_rate:.4f}",
            f"{s.error_delta:+.4f} / {s.error_threshold:.4f}",
            f"{s.canary_latency_ms:.1f} ms",
            f"{s.latency_delta_ms:+.1f} / {s.latency_threshold_ms:g} ms",
            s.verdict if s.verdict == "pass" else f"[bold red]{s.verdict}[/]",
        )
    outcome = f"{trace.phase.value}: {trace.stages_completed}/{trace.total_stages} stages completed"
    if trace.rollback_reason:
        outcome += f"; {trace.rollback_reason}"
    table.caption = outcome
    table.caption_justify = "left"
    return table


def bench_table(result: EngineVsReference) -> Table:
    table = Table(
        title=(
            f"engine vs scalar reference on {result.experiment}, healthy scenario, one process "
            f"({result.cores} cores seen, numpy {result.numpy_version}, "
            f"Python {result.python_version})"
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
        ("end to end", result.engine, result.reference, result.end_to_end),
        ("decisions only", result.engine_kernels, result.reference_decisions, result.decisions),
    )
    for label, fast, slow, ratio in pairs:
        table.add_row(
            label,
            fast.name,
            f"{fast.rollouts:,}",
            f"{fast.seconds:.3f}",
            f"{fast.rollouts_per_second:,.0f}",
            f"{ratio:,.0f}x",
        )
        table.add_row(
            "",
            slow.name,
            f"{slow.rollouts:,}",
            f"{slow.seconds:.3f}",
            f"{slow.rollouts_per_second:,.0f}",
            "1x",
            end_section=True,
        )
    table.caption = "goal: engine >= 100x the scalar reference on one core"
    table.caption_justify = "left"
    return table
