"""Rules side by side at a matched false-alarm rate, on the same simulated traffic.

Each rule has one knob that trades false alarms for detection (a threshold scale, or a
significance level). :func:`calibrate` finds the knob value that gives the target
false-alarm rate on the healthy scenario, by bisection on common random numbers (the
same draws at every knob value, so the rate is a monotone step function of the knob);
:func:`compare_rules` then runs every scenario with each calibrated rule, and
:func:`plot_comparison` draws the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from canary_mc.engine.simulate import run_experiment
from canary_mc.model import Experiment

RULES: dict[str, tuple[dict[str, Any], str, tuple[float, float], bool]] = {
    # name: (rule, knob path, knob range, larger knob = fewer false alarms)
    "threshold": ({"kind": "threshold"}, "error_threshold_scale", (0.5, 8.0), True),
    "failure_limit (1, stage)": (
        {"kind": "failure_limit", "failure_limit": 1, "scope": "stage"},
        "error_threshold_scale",
        (0.2, 8.0),
        True,
    ),
    "cumulative_checks (2)": (
        {"kind": "cumulative_checks", "threshold": 2},
        "error_threshold_scale",
        (0.2, 8.0),
        True,
    ),
    "ztest (pocock)": (
        {"kind": "ztest", "correction": "pocock", "scope": "rollout"},
        "rule.alpha",
        (1e-6, 0.5),
        False,
    ),
    "sprt": ({"kind": "sprt", "beta": 0.2}, "rule.alpha", (1e-6, 0.5), False),
    "msprt": ({"kind": "msprt", "tau": 1.0}, "rule.alpha", (1e-6, 0.5), False),
    "mannwhitney (10/step)": (
        {"kind": "mannwhitney", "samples_per_step": 10},
        "rule.confidence",
        (0.5, 1 - 1e-7),
        True,
    ),
}
"""The rules compared in ``docs/choosing-a-rule.png`` and their calibration knobs."""


def with_knob(experiment: Experiment, rule: Mapping[str, Any], knob: str, value: float):
    """``experiment`` with ``policy.rule = rule`` and ``policy.<knob> = value``."""
    policy = experiment.policy.model_dump()
    policy["rule"] = dict(rule)
    if knob.startswith("rule."):
        policy["rule"][knob.removeprefix("rule.")] = value
    else:
        policy[knob] = value
    return Experiment.model_validate({**experiment.model_dump(), "policy": policy})


def false_alarm_rate(experiment: Experiment, rollouts: int) -> float:
    estimate = run_experiment(experiment, rollouts=rollouts)
    healthy = next(s for s in estimate.scenarios if s.healthy)
    return healthy.rollback.rate


def calibrate(
    experiment: Experiment,
    rule: Mapping[str, Any],
    knob: str,
    bounds: tuple[float, float],
    larger_is_stricter: bool,
    *,
    target: float,
    rollouts: int,
    iterations: int = 18,
) -> float:
    """Knob value whose false-alarm rate is closest to ``target`` (geometric bisection)."""
    lo, hi = bounds
    for _ in range(iterations):
        mid = (lo * hi) ** 0.5
        rate = false_alarm_rate(with_knob(experiment, rule, knob, mid), rollouts)
        too_many = rate > target
        if too_many == larger_is_stricter:
            lo = mid
        else:
            hi = mid
    return (lo * hi) ** 0.5


def compare_rules(
    experiment: Experiment, *, target: float = 0.05, calibration_rollouts: int = 20_000
) -> pd.DataFrame:
    """One row per rule x scenario: rates with 95% Clopper–Pearson bounds, and mean steps.

    The knob is calibrated on the first ``calibration_rollouts`` rollouts; the reported
    rates come from all ``experiment.rollouts`` rollouts of the same seed, so the healthy
    rate shown is near ``target`` but not exactly it.
    """
    rows = []
    for name, (rule, knob, bounds, stricter) in RULES.items():
        value = calibrate(
            experiment, rule, knob, bounds, stricter, target=target, rollouts=calibration_rollouts
        )
        estimate = run_experiment(with_knob(experiment, rule, knob, value))
        for s in estimate.scenarios:
            rows.append(
                {
                    "rule": name,
                    "knob": knob,
                    "knob_value": value,
                    "scenario": s.scenario,
                    "healthy": s.healthy,
                    "rollback_rate": s.rollback.rate,
                    "rollback_rate_lo": s.rollback.lo,
                    "rollback_rate_hi": s.rollback.hi,
                    "mean_steps_to_decision": s.mean_steps_to_decision,
                }
            )
    return pd.DataFrame(rows)


def plot_comparison(frame: pd.DataFrame, ax=None):
    """Grouped bars: rollback rate per scenario for each rule, with 95% intervals.

    Returns the Figure; never shows it.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4.5))
    else:
        fig = ax.figure
    rules = list(dict.fromkeys(frame["rule"]))
    scenarios = list(dict.fromkeys(frame["scenario"]))
    width = 0.8 / len(rules)
    for i, rule in enumerate(rules):
        part = frame[frame["rule"] == rule].set_index("scenario").loc[scenarios]
        x = [j + (i - (len(rules) - 1) / 2) * width for j in range(len(scenarios))]
        err = [
            part["rollback_rate"] - part["rollback_rate_lo"],
            part["rollback_rate_hi"] - part["rollback_rate"],
        ]
        ax.bar(x, part["rollback_rate"], width, yerr=err, capsize=2, label=rule)
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_ylabel("rollback rate (95% Clopper–Pearson)")
    ax.set_ylim(0, 1)
    ax.set_title("Rules at a matched false-alarm rate (healthy)")
    ax.legend(fontsize=8, ncol=3)
    return fig
