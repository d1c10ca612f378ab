"""Rich renderings of results for the terminal. Pure: objects in, renderables out.

Every name that comes from an experiment file is escaped: ``[red]`` in a scenario name is
text, not markup.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from canary_mc.bench import BenchReport, EngineVsReference
from canary_mc.engine.trace import Trace
from canary_mc.stats.estimate import ExperimentEstimate, Rate, ScenarioEstimate
from canary_mc.stats.formatting import estimate_with_interval, rate_with_interval


def rate_cell(rate: Rate) -> str:
    """``19.79% (19.62–19.97)``: the estimate and its 95% interval, in percent, all three
    with the decimals the interval's width supports."""
    return rate_with_interval(rate.rate, rate.lo, rate.hi)


# --- tables that fit the terminal ------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column's header and alignment."""

    header: str
    justify: Literal["left", "right"] = "right"


@dataclass(frozen=True)
class FittedTable:
    """A table that fits the console's width without cutting a cell short.

    Cells wrap at spaces (``19.79% (19.62–19.97)`` becomes two lines) and every column
    is at least as wide as its longest word, so a number is never cut. When even wrapped
    cells do not fit, the value columns are split over as few tables as fit, each
    repeating the key columns, and the caption says so. Rendered at the width of
    wherever it is printed (the terminal, or 120 columns in a pipe).

    Attributes
    ----------
    title : str
        Rich markup, already escaped.
    key : sequence of Column
        Columns repeated in every part (scenario, stage, step).
    values : sequence of Column
    rows : sequence of sequence of str
        Cells, the key columns' first; rich markup, already escaped.
    caption : str or None
    """

    title: str
    key: Sequence[Column]
    values: Sequence[Column]
    rows: Sequence[Sequence[str]]
    caption: str | None = None

    def tables(self, width: int) -> list[Table]:
        """The parts, as few as fit ``width`` columns (one value column each at most)."""
        n = len(self.values)
        for parts in range(1, max(n, 1) + 1):
            size = math.ceil(n / parts) if n else 0
            groups = [range(i, min(i + size, n)) for i in range(0, n, size)] if n else [range(0)]
            widths = [self._widths(group, width) for group in groups]
            if all(w is not None for w in widths) or parts == max(n, 1):
                return [
                    self._part(group, w, k, len(groups), width)
                    for k, (group, w) in enumerate(zip(groups, widths, strict=True))
                ]
        raise AssertionError("unreachable: the last split is always returned")

    def _cells(self, group: range) -> list[list[str]]:
        """Columns of plain text (header first) of the key columns and ``group``."""
        n_key = len(self.key)
        columns = [*range(n_key), *(n_key + i for i in group)]
        headers = [c.header for c in (*self.key, *(self.values[i] for i in group))]
        return [
            [Text.from_markup(h).plain, *(Text.from_markup(row[c]).plain for row in self.rows)]
            for h, c in zip(headers, columns, strict=True)
        ]

    def _widths(self, group: range, width: int) -> list[int | None] | None:
        """Content width of each column: ``None`` each when all fits unwrapped, else at
        least its longest word, the room left shared by need; ``None`` if even the
        longest words do not fit."""
        cells = self._cells(group)
        room = width - (3 * len(cells) + 1)  # a border and two padding spaces per column
        longest = [max(cell_len(line) for c in column for line in c.splitlines() or [""])
                   for column in cells]  # fmt: skip
        shortest = [max((cell_len(w) for c in column for w in c.split()), default=1)
                    for column in cells]  # fmt: skip
        if sum(longest) <= room:
            return [None] * len(cells)
        if sum(shortest) > room:
            return None
        need = [a - b for a, b in zip(longest, shortest, strict=True)]
        spare = room - sum(shortest)
        extra = [spare * k // sum(need) for k in need]
        for k in sorted(range(len(need)), key=lambda k: -need[k])[: spare - sum(extra)]:
            extra[k] += 1
        return [a + b for a, b in zip(shortest, extra, strict=True)]

    def _part(
        self, group: range, widths: list[int | None] | None, index: int, parts: int, width: int
    ) -> Table:
        table = Table(title=self.title if index == 0 else None, title_justify="left")
        columns = (*self.key, *(self.values[i] for i in group))
        for k, column in enumerate(columns):
            table.add_column(
                column.header,
                justify=column.justify,
                overflow="fold",
                width=None if widths is None else widths[k],
            )
        n_key = len(self.key)
        for row in self.rows:
            table.add_row(*row[:n_key], *(row[n_key + i] for i in group))
        notes = [] if self.caption is None or index < parts - 1 else [self.caption]
        if parts > 1:
            notes.append(f"(part {index + 1} of {parts}: columns split to fit {width} columns)")
        if notes:
            table.caption = "\n".join(notes)
            table.caption_justify = "left"
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Table]:
        yield from self.tables(options.max_width)


def estimate_tables(estimate: ExperimentEstimate) -> list[RenderableType]:
    """A table of scenarios and one of per-stage rollback fractions, with 95% intervals;
    under the counts model a third, of the blast radius. With ``policy.interval``, times to
    decision in minutes too; stages where a metric is not checked are named below."""
    timed = estimate.scenarios[0].minutes_per_step is not None
    rows = []
    for s in estimate.scenarios:
        label = f"{s.scenario} (healthy)" if s.healthy and s.scenario != "healthy" else s.scenario
        rows.append(
            [
                escape(label),
                rate_cell(s.rollback),
                rate_cell(s.completed),
                "\n".join(f"{reason} {count:,}" for reason, count in reasons(estimate, s)),
                _mean(s.mean_steps_to_decision, s.mean_steps_lo, s.mean_steps_hi),
                *([_minutes(s)] if timed else []),
            ]
        )
    scenarios = FittedTable(
        title=(
            f"{escape(estimate.experiment)}: {estimate.n_rollouts:,} rollouts per scenario, "
            f"seed {estimate.seed} (95% intervals: Clopper–Pearson for rates)"
        ),
        key=[Column("scenario", "left")],
        values=[
            Column("rollback rate"),
            Column("completed"),
            Column("rollbacks by reason"),
            Column("mean steps to decision"),
            *([Column("mean minutes to decision")] if timed else []),
        ],
        rows=rows,
        caption="\n".join(
            [
                f"false-alarm rate ({escape(estimate.healthy_scenario)}): "
                f"{rate_cell(estimate.false_alarm)}",
                *(
                    f"not checked at stage {escape(stage)}: {escape(', '.join(metrics))} "
                    "(delta/ratio; the baseline serves no requests there)"
                    for stage, metrics in _unchecked_by_stage(estimate).items()
                ),
            ]
        ),
    )
    first = estimate.scenarios[0]
    stages = FittedTable(
        title="where rollbacks happen: share of all rollouts rolled back in each stage (95% CI)",
        key=[Column("stage", "left"), Column("traffic")],
        values=[Column(escape(s.scenario)) for s in estimate.scenarios],
        rows=[
            [
                escape(stage.stage),
                f"{stage.traffic_pct:g}%",
                *(rate_cell(s.stages[i].rollback_fraction) for s in estimate.scenarios),
            ]
            for i, stage in enumerate(first.stages)
        ],
    )
    tables: list[RenderableType] = [scenarios, stages]
    if all(s.blast is not None for s in estimate.scenarios):
        tables.append(blast_table(estimate))
    return tables


def _minutes(s: ScenarioEstimate) -> str:
    lo, hi = s.minutes(s.mean_steps_lo), s.minutes(s.mean_steps_hi)
    mean = s.minutes(s.mean_steps_to_decision)
    if lo is None or hi is None:
        return f"{mean:,.2f} min (no CI, n < 30)"
    return estimate_with_interval(mean, lo, hi, thousands=True) + " min"


def _unchecked_by_stage(estimate: ExperimentEstimate) -> dict[str, list[str]]:
    by_stage: dict[str, list[str]] = {}
    for stage, metric in estimate.unchecked:
        by_stage.setdefault(stage, []).append(metric)
    return by_stage


def reasons(estimate: ExperimentEstimate, scenario: ScenarioEstimate) -> list[tuple[str, int]]:
    """``(reason, rollbacks)`` pairs of one scenario, in the engine's order; "no data"
    only when some scenario of the run had such a rollback."""
    pairs = list(scenario.rollbacks_by_reason.items())
    if any(s.no_data_rollbacks for s in estimate.scenarios):
        pairs.append(("no data", scenario.no_data_rollbacks))
    return pairs


def _mean(value: float, lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return f"{value:,.2f} (no CI, n < 30)"
    return estimate_with_interval(value, lo, hi, thousands=True)


def blast_table(estimate: ExperimentEstimate) -> FittedTable:
    """Counts model: canary requests and excess errors served before the decision."""
    rows = []
    for s in estimate.scenarios:
        b = s.blast
        if b is None:  # the Gaussian model has no requests; the caller skips this table
            continue
        rows.append(
            [
                escape(s.scenario),
                _mean(b.canary_requests_mean, b.canary_requests_mean_lo, b.canary_requests_mean_hi),
                _mean(b.excess_errors_mean, b.excess_errors_mean_lo, b.excess_errors_mean_hi),
                f"{b.excess_errors_p95:,} ({b.excess_errors_p95_lo:,}–{b.excess_errors_p95_hi:,})",
            ]
        )
    return FittedTable(
        title="blast radius per rollout, up to the decision (95% CI)",
        key=[Column("scenario", "left")],
        values=[
            Column("canary requests (mean)"),
            Column("excess errors (mean)"),
            Column("excess errors (p95)"),
        ],
        rows=rows,
        caption="excess errors: errors the fault caused, beyond the healthy canary's",
    )


def trace_table(trace: Trace) -> FittedTable:
    """One row per evaluated step, the decision last.

    With ``policy.metrics``, each metric's compared value beside its limits; else the
    seed's error and latency deltas. Under the counts model each side's error rate comes
    with its counts, ``0.0150 (3/200)`` (errors/requests), and the baseline is shown at
    every step, since it is measured. With ``policy.interval``, the minute of each step.
    """
    first = trace.snapshots[0]
    counts = first.canary_requests is not None
    timed = first.minute is not None
    sides = [Column("canary err"), *([Column("baseline err")] if counts else [])]
    if first.metrics:
        checks = [
            *(sides if counts else []),
            *(Column(escape(f"{name} / limits")) for name, *_ in first.metrics),
        ]
    else:
        checks = [
            *sides,
            Column("Δ err / limit"),
            Column("canary lat"),
            *([Column("baseline lat")] if counts else []),
            Column("Δ lat / limit"),
        ]
    rows = []
    for s in trace.snapshots:
        rates = [
            _error_rate(s.canary_error_rate, s.canary_errors, s.canary_requests),
            *(
                [_error_rate(s.baseline_error_rate, s.baseline_errors, s.baseline_requests)]
                if counts
                else []
            ),
        ]
        if s.metrics:
            readings = [
                *(rates if counts else []),
                *(_reading(value, high, low) for _, value, high, low in s.metrics),
            ]
        else:
            readings = [
                *rates,
                f"{s.error_delta:+.4f} / {s.error_threshold:.4f}",
                f"{s.canary_latency_ms:.1f} ms",
                *([f"{s.baseline_latency_ms:.1f} ms"] if counts else []),
                f"{s.latency_delta_ms:+.1f} / {s.latency_threshold_ms:g} ms",
            ]
        rows.append(
            [
                str(s.step),
                *([f"{s.minute:g}"] if timed else []),
                escape(s.stage),
                f"{s.traffic_pct:g}%",
                s.phase.value,
                *readings,
                s.verdict if s.verdict == "pass" else f"[bold red]{escape(s.verdict)}[/]",
            ]
        )
    first = trace.snapshots[0]
    baseline = (
        "errors/requests: each side's counts at that step; the baseline is measured"
        if counts
        else f"baseline {first.baseline_error_rate:.4f} errors, {first.baseline_latency_ms:g} ms"
    )
    outcome = f"{trace.phase.value}: {trace.stages_completed}/{trace.total_stages} stages completed"
    if trace.rollback_reason:
        outcome += f"; {escape(trace.rollback_reason)}"
    return FittedTable(
        title=(
            f"{escape(trace.experiment)}: scenario {escape(repr(trace.scenario))}, "
            f"seed {trace.seed} ({baseline})"
        ),
        key=[Column("step"), *([Column("minute")] if timed else []), Column("stage", "left")],
        values=[Column("traffic"), Column("phase", "left"), *checks, Column("verdict", "left")],
        rows=rows,
        caption=outcome,
    )


def _reading(value: float, high: float | None, low: float | None) -> str:
    """A metric's compared value beside its limits: ``98.7 / [99, -]``."""
    bounds = f"[{'-' if low is None else f'{low:g}'}, {'-' if high is None else f'{high:g}'}]"
    return escape(f"{value:.4g} / {bounds}")


def _error_rate(rate: float, errors: int | None, requests: int | None) -> str:
    """``0.0150 (3/200)`` with counts, ``0.0150`` without; ``no data (0/0)``."""
    if errors is None or requests is None:
        return f"{rate:.4f}"
    if requests == 0:
        return f"no data ({errors:,}/{requests:,})"
    return f"{rate:.4f} ({errors:,}/{requests:,})"


def bench_table(result: EngineVsReference) -> FittedTable:
    """Side-by-side throughput and ratios, with the goal and whether it was met."""
    pairs = (
        ("the file as written", result.engine_all, result.reference_all, result.whole_experiment),
        ("one scenario, end to end", result.engine, result.reference, result.end_to_end),
        ("one scenario, decisions", result.engine_kernels, result.reference_decisions,
         result.decisions),
    )  # fmt: skip
    rows = []
    for label, fast, slow, ratio in pairs:
        for name, run, shown in ((label, fast, f"{ratio:,.0f}x"), ("", slow, "1x")):
            rows.append(
                [
                    name, run.name, f"{run.rollouts:,}", f"{run.seconds:.3f}",
                    f"{run.rollouts_per_second:,.0f}", shown,
                ]
            )  # fmt: skip

    def verdict(ratio: float) -> str:
        return "met" if ratio >= result.GOAL else "NOT met"

    return FittedTable(
        title=(
            f"engine vs scalar reference on {escape(result.experiment)} (as written, and its "
            f"healthy scenario alone), one process ({result.cores} cores seen, "
            f"numpy {result.numpy_version}, Python {result.python_version})"
        ),
        key=[Column("comparison", "left")],
        values=[
            Column("implementation", "left"),
            Column("rollouts timed"),
            Column("seconds"),
            Column("rollouts/s"),
            Column("ratio"),
        ],
        rows=rows,
        caption=(
            f"goal: engine >= {result.GOAL:g}x the scalar reference on one core: "
            f"{verdict(result.whole_experiment)} on the file as written "
            f"({result.whole_experiment:.0f}x); {verdict(result.end_to_end)} for a single "
            f"scenario end to end ({result.end_to_end:.0f}x, decisions only "
            f"{result.decisions:.0f}x)"
        ),
    )


def figures_table(report: BenchReport) -> FittedTable:
    """Every other bench figure: ours, the baseline, their ratio, the goal, met or not."""
    machine = report.machine
    return FittedTable(
        title=(
            f"performance figures ({machine['cores_seen']} cores seen, Python "
            f"{machine['python']}, numpy {machine['numpy']}, BLAS {escape(str(machine['blas']))})"
        ),
        key=[Column("figure", "left")],
        values=[
            Column("what is compared", "left"),
            Column("ours"),
            Column("baseline"),
            Column("ratio"),
            Column("goal"),
            Column("met", "left"),
        ],
        rows=[
            [
                escape(f.name),
                escape(f.what),
                f"{f.ours:.3f} {f.unit}",
                f"{f.baseline:.3f} {f.unit}",
                f"{f.ratio:.2f}x",
                "-" if f.goal is None else f"{'>=' if f.higher_is_better else '<='} {f.goal:g}x",
                {True: "yes", False: "NO", None: "-"}[f.met],
            ]
            for f in report.figures
        ],
    )


def tune_table(result) -> FittedTable:
    """The tuned settings: per scenario the rate (false alarm or detection) and the mean
    time to decision, with intervals; one row per scenario of the chosen setting."""
    best = result.best
    settings = ", ".join(f"{p} = {v:g}" for p, v in best.values.items())
    return FittedTable(
        title=f"tuned: {escape(settings)}",
        key=[Column("scenario", "left")],
        values=[Column("rollback rate (95% CI)"), Column("mean steps to decision (95% CI)")],
        rows=[
            [
                f"{escape(s.scenario)} ({'false alarm' if s.healthy else 'detection'})",
                rate_cell(s.rollback),
                _mean(s.mean_steps_to_decision, s.mean_steps_lo, s.mean_steps_hi),
            ]
            for s in best.estimate.scenarios
        ],
    )
