"""Words and records of a tuning: summary lines, JSON records, the tuned file's values
and provenance comments. Pure functions of a :class:`~canary_mc.tune.TunedRun`."""

from __future__ import annotations

from typing import Any

from canary_mc import __version__
from canary_mc.io.experiment_file import SweepFile
from canary_mc.io.grid import Loc
from canary_mc.tune.search import TuneResult


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def summary_lines(run: Any) -> list[str]:
    """What ``tune`` prints under its table: the choice, the knob's interval, the edge,
    the several-knob gain, or why the budget cannot be met and what would meet it."""
    result: TuneResult = run.result
    lines = []
    best = result.best
    if best is None:
        lines.append(
            f"the false-alarm budget {_pct(result.budget)} cannot be met by "
            + ", ".join(k.path for k in result.knobs)
            + " over the searched range(s) (upper 95% bound above the budget everywhere)"
        )
        for s in result.suggestions:
            verdict = "would meet it" if s.meets else "would not meet it either"
            fa = s.false_alarm
            lines.append(
                f"  {s.change}: false alarms {_pct(fa.rate)} [{_pct(fa.lo)}, {_pct(fa.hi)}] "
                f"at the strictest setting: {verdict}"
            )
    else:
        fa = best.estimate.false_alarm
        lines.append(
            f"false alarms {_pct(fa.rate)} [{_pct(fa.lo)}, {_pct(fa.hi)}], upper bound within "
            f"the budget {_pct(result.budget)}; objective ({result.objective.label}) "
            f"{best.objective:.4f}"
        )
        crossing = best.crossing
        if crossing is not None and crossing.interval is not None and result.single_scale is None:
            path = next(k.path for k in result.knobs if not k.discrete)
            lo, hi = crossing.interval
            lines.append(
                f"{path}: the value where the true false-alarm rate equals the budget lies in "
                f"[{lo:g}, {hi:g}] (every value there has the budget inside its 95% interval); "
                f"chosen {best.values[path]:g}, the conservative end"
            )
        if result.single_scale is not None and result.improvement is not None:
            gain, lo, hi = result.improvement
            single = result.single_scale
            lines.append(
                f"best single-scale setting: objective {single.objective:.4f}, false alarms "
                f"{_pct(single.estimate.false_alarm.rate)}; the tuned vector gains "
                f"{gain:+.4f} [{lo:+.4f}, {hi:+.4f}] (paired, 95%)"
            )
    lines += result.notes
    if run.precision is not None:
        state = "reached" if run.reached else "NOT reached (max rollouts)"
        width = "n/a" if run.half_width is None else f"{run.half_width:.4g}"
        lines.append(
            f"adaptive precision {run.precision:g} {state}: {result.rollouts:,} rollouts per "
            f"evaluation, widest half-width {width}"
        )
    else:
        lines.append(f"{result.rollouts:,} rollouts per evaluation, seed {result.seed}")
    lines.append(f"{result.evaluations} settings simulated, all on the same rollouts")
    return lines


def tuned_values(sweep_file: SweepFile, result: TuneResult) -> dict[Loc, Any]:
    """The chosen values at their locations in the file."""
    assert result.best is not None
    return {sweep_file.loc(path): value for path, value in result.best.values.items()}


def provenance(run: Any, source: str) -> list[str]:
    """Comment lines that head the tuned file: how it was tuned, and what it gave."""
    result: TuneResult = run.result
    best = result.best
    assert best is not None
    fa = best.estimate.false_alarm
    lines = [
        f"Tuned by canary-mc {__version__} `tune` from {source}:",
        f"  budget: false alarms <= {result.budget:g} (upper 95% bound); maximised: "
        f"{result.objective.label}",
        "  knobs: " + ", ".join(f"{p} = {v:g}" for p, v in best.values.items()),
        f"  seed {result.seed}, {result.rollouts:,} rollouts per evaluation"
        + ("" if run.precision is None else f" (adaptive precision {run.precision:g})"),
        f"  false alarms {fa.rate:.5f} [{fa.lo:.5f}, {fa.hi:.5f}]",
    ]
    for s in best.estimate.scenarios:
        if not s.healthy:
            r = s.rollback
            lines.append(f"  detection {s.scenario}: {r.rate:.4f} [{r.lo:.4f}, {r.hi:.4f}]")
    if best.crossing is not None and best.crossing.interval is not None:
        lo, hi = best.crossing.interval
        lines.append(f"  knob interval at the budget: [{lo:g}, {hi:g}]")
    lines.append("  The sweep section of the source is dropped: it would override these values.")
    lines.append("")
    return lines


def tune_records(run: Any) -> dict[str, Any]:
    """JSON-ready result of ``tune --json``."""
    result: TuneResult = run.result
    best = result.best
    out: dict[str, Any] = {
        "budget": result.budget,
        "objective": result.objective.label,
        "rollouts_per_evaluation": result.rollouts,
        "seed": result.seed,
        "evaluations": result.evaluations,
        "met": best is not None,
        "precision": run.precision,
        "half_width": run.half_width,
        "notes": result.notes,
    }
    if best is None:
        out["suggestions"] = [
            {
                "change": s.change,
                "false_alarm_rate": s.false_alarm.rate,
                "false_alarm_rate_hi": s.false_alarm.hi,
                "meets": s.meets,
            }
            for s in result.suggestions
        ]
        return out
    out["values"] = best.values
    out["objective_value"] = best.objective
    out["scenarios"] = best.estimate.records()
    if best.crossing is not None and best.crossing.interval is not None:
        out["knob_interval"] = list(best.crossing.interval)
        out["edge"] = best.crossing.edge
    if result.improvement is not None:
        out["improvement_over_single_scale"] = list(result.improvement)
        out["single_scale_values"] = result.single_scale.values
    return out
