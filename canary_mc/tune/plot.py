"""The trade-off plot of a tuning: detection against false alarms, the chosen point and
the budget line. A function of data (a DataFrame); the caller saves the Figure."""

from __future__ import annotations

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from canary_mc.tune.search import TuneResult


def tradeoff_frame(result: TuneResult) -> pd.DataFrame:
    """One row per evaluated setting x regression scenario of the objective.

    Columns: ``setting`` (0 is the chosen one), ``label`` (knob values), ``scenario``,
    ``false_alarm``, ``false_alarm_lo``, ``false_alarm_hi``, ``detection``,
    ``detection_lo``, ``detection_hi``, ``chosen``.
    """
    rows = []
    for i, candidate in enumerate(result.candidates):
        fa = candidate.estimate.false_alarm
        label = ", ".join(f"{p.rsplit('.', 1)[-1]}={v:g}" for p, v in candidate.values.items())
        for s in candidate.estimate.scenarios:
            if s.scenario not in result.objective.weights:
                continue
            rows.append(
                {
                    "setting": i,
                    "label": label,
                    "scenario": s.scenario,
                    "false_alarm": fa.rate,
                    "false_alarm_lo": fa.lo,
                    "false_alarm_hi": fa.hi,
                    "detection": s.rollback.rate,
                    "detection_lo": s.rollback.lo,
                    "detection_hi": s.rollback.hi,
                    "chosen": result.best is not None and candidate is result.best,
                }
            )
    return pd.DataFrame(rows)


def plot_tradeoff(frame: pd.DataFrame, budget: float, ax=None) -> Figure:
    """Detection (per scenario) against the false-alarm rate, with 95% intervals on both
    axes, the chosen setting ringed and the budget as a vertical line.

    Parameters
    ----------
    frame : DataFrame
        :func:`tradeoff_frame`.
    budget : float
        False-alarm budget (fraction).
    ax : matplotlib Axes, optional

    Returns
    -------
    Figure
    """
    if ax is None:
        fig = Figure(figsize=(7, 4.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for scenario, part in frame.groupby("scenario", sort=False):
        part = part.sort_values("false_alarm")
        curve = part[~part["chosen"]]
        ax.errorbar(
            curve["false_alarm"],
            curve["detection"],
            xerr=[
                curve["false_alarm"] - curve["false_alarm_lo"],
                curve["false_alarm_hi"] - curve["false_alarm"],
            ],
            yerr=[
                curve["detection"] - curve["detection_lo"],
                curve["detection_hi"] - curve["detection"],
            ],
            marker="o",
            markersize=3,
            capsize=2,
            label=str(scenario),
        )
        chosen = part[part["chosen"]]
        ax.scatter(
            chosen["false_alarm"],
            chosen["detection"],
            s=120,
            facecolors="none",
            edgecolors="black",
            zorder=3,
        )
    ax.axvline(budget, color="red", linestyle="--", linewidth=1, label=f"budget {budget:g}")
    ax.set_xscale("symlog", linthresh=max(budget / 10, 1e-6))
    ax.set_xlabel("false-alarm rate (healthy rollbacks, 95% Clopper–Pearson)")
    ax.set_ylabel("detection rate (95% Clopper–Pearson)")
    ax.set_ylim(0, 1)
    ax.set_title("Trade-off: chosen setting ringed")
    ax.legend(fontsize=8)
    return fig
