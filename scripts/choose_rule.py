"""Make docs/choosing-a-rule.png: the rules at a matched false-alarm rate.

Usage: .venv/bin/python scripts/choose_rule.py [experiments/rules.yaml] [--target 0.05]
Prints a Markdown table of the rates, writes the figure (Agg backend), and prints the
calibrated rules as the ``sweep.zip`` rows of experiments/rules.yaml, so that
`canary-mc sweep experiments/rules.yaml` runs them all at the matched false-alarm rate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from canary_mc.compare import RULES, compare_rules, plot_comparison
from canary_mc.io.experiment_file import load_experiment

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default=ROOT / "experiments" / "rules.yaml")
    parser.add_argument("--target", type=float, default=0.05)
    parser.add_argument("--out", default=ROOT / "docs" / "choosing-a-rule.png")
    args = parser.parse_args()
    frame = compare_rules(load_experiment(args.experiment), target=args.target)
    fig = plot_comparison(frame)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    table = frame.pivot(index="rule", columns="scenario", values="rollback_rate")
    table = table[list(dict.fromkeys(frame["scenario"]))]
    steps = frame[frame["healthy"]].set_index("rule")["mean_steps_to_decision"]
    table["healthy mean steps"] = steps
    table["knob"] = (
        frame.groupby("rule")["knob"].first()
        + " = "
        + frame.groupby("rule")["knob_value"].first().map(lambda v: f"{v:.4g}")
    )
    table = table.loc[list(dict.fromkeys(frame["rule"]))]
    print("| rule | " + " | ".join(table.columns) + " |")
    print("|---" * (len(table.columns) + 1) + "|")
    for rule, row in table.iterrows():
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        print(f"| {rule} | " + " | ".join(cells) + " |")
    print("\nsweep:\n  zip:")
    for name, (rule, knob, _, _) in RULES.items():
        value = float(frame[frame["rule"] == name]["knob_value"].iloc[0])
        rule = dict(rule)
        scale = 1.0
        if knob.startswith("rule."):
            rule[knob.removeprefix("rule.")] = float(f"{value:.4g}")
        else:
            scale = float(f"{value:.4g}")
        fields = ", ".join(f"{k}: {v}" for k, v in rule.items())
        print(f"    - {{policy.rule: {{{fields}}}, policy.error_threshold_scale: {scale}}}")


if __name__ == "__main__":
    main()
