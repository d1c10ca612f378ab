"""Measure what the work estimate assumes: each rule's speed and working set per model.

Prints, for every rule on both noise models, the single-core speed in rollout-steps per
second per scenario and the peak traced memory per rollout-step of one chunk. The
constants in ``canary_mc/engine/cost.py`` are these figures, rounded down (speed) and up
(memory). Run: ``.venv/bin/python scripts/calibrate_work.py``.
"""

from __future__ import annotations

import time
import tracemalloc

from canary_mc.engine.simulate import tally_experiment
from canary_mc.io.experiment_file import parse_experiment

BASE = """\
seed: 1
rollouts: {rollouts}
policy:
  rule: {rule}
  stages:
    - {{name: a, traffic_pct: 5, duration_steps: 4, error_threshold: 0.02}}
    - {{name: b, traffic_pct: 25, duration_steps: 4, error_threshold: 0.015}}
    - {{name: c, traffic_pct: 50, duration_steps: 4, error_threshold: 0.01}}
    - {{name: d, traffic_pct: 100, duration_steps: 4, error_threshold: 0.01}}
service: {{error_rate: 0.01, latency_ms: 100{requests}}}
noise: {noise}
scenarios:
  healthy: {{}}
  bad: {{error_delta: 0.01}}
"""
NOISES = {
    "gaussian": ("{error_sigma: 0.005, latency_sigma_ms: 10}", ""),
    "counts": ("{model: counts}", ", requests_per_step: 1000"),
}
RULES = {
    "threshold": "threshold",
    "failure_limit": "{kind: failure_limit, failure_limit: 1}",
    "cumulative_checks": "{kind: cumulative_checks, threshold: 2}",
    "ztest": "{kind: ztest, correction: pocock}",
    "sprt": "sprt",
    "msprt": "msprt",
    "mannwhitney m=4": "{kind: mannwhitney, samples_per_step: 4}",
    "mannwhitney m=10": "{kind: mannwhitney, samples_per_step: 10}",
    "mannwhitney m=25": "{kind: mannwhitney, samples_per_step: 25}",
}


def experiment(rule: str, noise: str, rollouts: int):
    text, requests = NOISES[noise]
    return parse_experiment(
        BASE.format(rollouts=rollouts, rule=RULES[rule], noise=text, requests=requests)
    )


def main() -> None:
    print(f"{'rule':20} {'model':9} {'rollout-steps/s':>16} {'bytes/rollout-step':>19}")
    for noise in NOISES:
        for rule in RULES:
            small = experiment(rule, noise, 4096)
            steps = small.policy.max_steps
            tracemalloc.start()
            tally_experiment(small, chunk_rollouts=4096)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rollouts = 8192
            while True:
                start = time.perf_counter()
                tally_experiment(experiment(rule, noise, rollouts))
                seconds = time.perf_counter() - start
                if seconds > 1.0:
                    break
                rollouts *= 4
            speed = rollouts * steps * len(small.evaluated_scenarios) / seconds
            print(f"{rule:20} {noise:9} {speed:16.3g} {peak / (4096 * steps):19.0f}")


if __name__ == "__main__":
    main()
