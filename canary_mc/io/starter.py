"""``canary-mc init``: a commented starter experiment for the counts model.

:func:`starter_experiment` turns a few facts about a service (traffic, error rate,
latency, the stages and the analysis interval) into the text of an experiment file that
explains every key it sets. The text is checked by the same loader as any file
(``tests/test_init.py`` validates and runs it).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from canary_mc.errors import ConfigError


@dataclass(frozen=True)
class StarterAnswers:
    """What ``canary-mc init`` asks.

    Attributes
    ----------
    name : str
        The experiment's name (and its results folder).
    requests_per_second : float
        Requests per second the whole service serves, > 0.
    interval_s : float
        Seconds between two analysis checks (one evaluation step), > 0.
    error_rate : float
        Fraction of requests that fail on the stable version, in [0, 1).
    latency_ms : float
        Median request latency, ms, > 0.
    stages_pct : tuple of float
        Canary traffic of each stage, percent, each in (0, 100].
    checks_per_stage : int
        Analysis checks (steps) in each stage, >= 1.
    error_threshold : float
        Canary error rate minus baseline error rate that fails a check (fraction), > 0.
    latency_threshold_ms : float
        Canary p95 latency minus baseline p95 that fails a check, ms, > 0.
    """

    name: str = "my-service"
    requests_per_second: float = 200.0
    interval_s: float = 60.0
    error_rate: float = 0.005
    latency_ms: float = 120.0
    stages_pct: tuple[float, ...] = (1.0, 5.0, 25.0, 50.0)
    checks_per_stage: int = 5
    error_threshold: float = 0.02
    latency_threshold_ms: float = 100.0

    @property
    def requests_per_step(self) -> int:
        """Requests the service serves in one interval (canary and baseline together)."""
        return max(1, math.floor(self.requests_per_second * self.interval_s + 0.5))


def parse_stages(text: str) -> tuple[float, ...]:
    """``"1, 5, 25, 50"`` as stage traffic percentages.

    Raises
    ------
    ConfigError
        Naming the rule and the bad value: each must be a number in (0, 100], rising.
    """
    try:
        values = tuple(float(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ConfigError(
            f"stages: must be traffic percentages separated by commas, such as 1,5,25,50; "
            f"got {text!r}"
        ) from None
    if not values or any(not 0 < v <= 100 for v in values):
        raise ConfigError(f"stages: each traffic percentage must be in (0, 100], got {text!r}")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ConfigError(f"stages: traffic percentages must rise stage by stage, got {text!r}")
    return values


def check_answers(answers: StarterAnswers) -> None:
    """Refuse answers no experiment could hold, naming the option, rule and value.

    Raises
    ------
    ConfigError
    """
    rules = (
        ("requests-per-second", answers.requests_per_second, answers.requests_per_second > 0),
        ("interval", answers.interval_s, answers.interval_s > 0),
        ("error-rate", answers.error_rate, 0 <= answers.error_rate < 1),
        ("latency-ms", answers.latency_ms, answers.latency_ms > 0),
        ("checks-per-stage", answers.checks_per_stage, answers.checks_per_stage >= 1),
        ("error-threshold", answers.error_threshold, 0 < answers.error_threshold < 1),
        ("latency-threshold-ms", answers.latency_threshold_ms, answers.latency_threshold_ms > 0),
    )
    for option, value, ok in rules:
        if not ok:
            rule = {
                "error-rate": "must be a fraction in [0, 1)",
                "error-threshold": "must be a fraction in (0, 1)",
                "checks-per-stage": "must be at least 1",
            }.get(option, "must be positive")
            raise ConfigError(f"--{option}: {rule}, got {value:g}")
    if not answers.name.strip() or any(c in answers.name for c in "/\\\n"):
        raise ConfigError(f"--name: must be a plain name (no slashes), got {answers.name!r}")


def _number(value: float) -> str:
    return f"{value:g}"


COMMENT_COLUMN = 34
"""Column at which the starter file's end-of-line comments start."""


def _commented(setting: str, comment: str) -> str:
    """``setting`` padded so that ``# comment`` starts at :data:`COMMENT_COLUMN`."""
    return f"{setting:<{COMMENT_COLUMN - 1}} # {comment}"


def _stage_name(pct: float) -> str:
    kind = "canary" if pct < 25 else "progressive" if pct < 100 else "full"
    return f"{kind}-{_number(pct).replace('.', '_')}pct"


def starter_experiment(answers: StarterAnswers) -> str:
    """The text of a commented counts-model experiment file built from ``answers``.

    Raises
    ------
    ConfigError
        If an answer is out of range (:func:`check_answers`).
    """
    check_answers(answers)
    a = answers
    stage_lines = "\n".join(
        f"    - {{name: {_stage_name(pct)}, traffic_pct: {_number(pct)}, "
        f"duration_steps: {a.checks_per_stage}, error_threshold: {_number(a.error_threshold)}}}"
        for pct in a.stages_pct
    )
    canary_first = math.floor(a.requests_per_step * a.stages_pct[0] / 100 + 0.5)
    traffic = (
        f"{_number(a.requests_per_second)} requests/s x {_number(a.interval_s)} s per check = "
        f"{a.requests_per_step:,}"
    )
    latency_limit = _commented(
        f"  latency_threshold_ms: {_number(a.latency_threshold_ms)}",
        "canary p95 minus baseline p95 (ms) that fails a check",
    )
    error_rate = _commented(
        f"  error_rate: {_number(a.error_rate)}", "share of requests failing on the stable version"
    )
    latency = _commented(f"  latency_ms: {_number(a.latency_ms)}", "median request latency (ms)")
    return f"""\
# A starter experiment written by `canary-mc init`, for the counts model: the canary and
# the baseline each serve real request counts, errors are drawn request by request, and
# latencies per request. Edit the numbers to match your service and your rollout, then
#   canary-mc validate {a.name}.yaml   # check the file
#   canary-mc run {a.name}.yaml        # false alarms and detection, with 95% intervals
#   canary-mc trace {a.name}.yaml      # one rollout, check by check
# Every key: docs/experiment-files.md. What is simulated: docs/model.md.
name: {a.name}
seed: 1                           # any integer; the same file and seed give the same numbers
rollouts: 20000                   # simulated rollouts per scenario (more: narrower intervals)

policy:
  rule: threshold                 # roll back at the first check that exceeds a limit
{latency_limit}
  no_data: hold                   # a check without canary requests decides nothing
  # One analysis check every {_number(a.interval_s)} s (one step); duration_steps checks per stage.
  # error_threshold: canary error rate minus baseline error rate (a fraction) that fails
  # a check; 0.01 is one percentage point.
  stages:
{stage_lines}

service:
  # {traffic} requests per check,
  # canary and baseline together; the first stage's canary sees {canary_first:,} of them.
  requests_per_step: {a.requests_per_step}
{error_rate}
{latency}
  baseline: matched               # baseline judged on as many requests as the canary (Kayenta)

noise:
  model: counts
  error_dispersion: 0.2           # step-to-step jitter of the error rate (lognormal log-sd)
  error_dispersion_mode: both     # half of it shared with the baseline (an upstream blip)
  latency_log_sigma: 0.5          # spread of one request's latency (lognormal log-sd)
  latency_metric: p95             # what the latency check compares

scenarios:                        # what the canary really does
  healthy: {{}}                     # as good as the stable version: its rollbacks are false alarms
  error-regression:               # errors double from the first check
    error_relative: 1.0
  latency-regression:             # every request 20% slower from the first check
    latency_factor: 1.2
"""


__all__ = ["StarterAnswers", "check_answers", "parse_stages", "starter_experiment"]
