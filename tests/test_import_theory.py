"""Imported policies against theory: each system's false-alarm rate in closed form, 4 SE.

The manifests (tests/manifests/) are imported with the service of tests/manifests/
service.yaml (1% errors, 120 requests a minute split by weight, no rate jitter), the
experiment run by the engine, and the healthy rollback rate compared with:

- Flagger: per check, p = the exact binomial tail of the canary's own errors at that
  weight; then the race of ``threshold`` failures against one pass per weight.
- Argo: per inline analysis, P(Binomial(count, p) > failureLimit); the rollout fails if
  any analysis does. With an Inconclusive band, the exact multinomial over failed /
  inconclusive / successful measurements against failureLimit and inconclusiveLimit.
- Kayenta: one look of the Mann-Whitney rule on a gauge: the exact size of the
  continuity-corrected rank-sum test, from U's null distribution.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from conftest import ROOT
from scipy import stats
from test_mannwhitney import exact_u_null

from canary_mc.engine import run_experiment
from canary_mc.io.experiment_file import parse_experiment
from canary_mc.io.located_yaml import read_located_yaml
from canary_mc.manifests import import_manifests

MANIFESTS = ROOT / "tests" / "manifests"
SERVICE = read_located_yaml((MANIFESTS / "service.yaml").read_text(), file="service").document
ERROR_RATE = 0.01
PER_STEP = 120  # requests_per_second 2 x interval 60 s
ROLLOUTS = 20_000


def experiment_text(name: str, service=None) -> str:
    world = {**SERVICE, "service": service} if service is not None else SERVICE
    return import_manifests([MANIFESTS / name], world=world).text


def imported(name: str, edit: tuple[str, str] = ("", ""), service=None):
    return parse_experiment(experiment_text(name, service).replace(*edit), file=name)


def canary_requests(weight: float) -> int:
    return math.floor(PER_STEP * Fraction(str(weight)) / 100 + Fraction(1, 2))


def healthy_rate(experiment) -> float:
    estimate = run_experiment(experiment, rollouts=ROLLOUTS, seed=11)
    (healthy,) = [s for s in estimate.scenarios if s.healthy]
    return healthy.rollback.rate


def within_4_se(measured: float, p: float) -> bool:
    return abs(measured - p) <= 4 * math.sqrt(p * (1 - p) / ROLLOUTS)


def test_flagger_threshold_race_on_stepped_weights():
    experiment = imported("flagger-threshold.yaml")
    weights = [s.traffic_pct for s in experiment.policy.stages]
    assert weights == [20, 40, 60]
    # success % = 100 (n - E) / n < 99  <=>  E > n / 100: the binomial tail above floor(n/100).
    fail = [stats.binom.sf(math.floor(canary_requests(w) / 100), canary_requests(w), ERROR_RATE)
            for w in weights]  # fmt: skip
    threshold = 2
    # The race: one pass moves to the next weight; the threshold-th failure rolls back.
    reach = {0: 1.0}  # failures so far -> probability, at the current weight
    rollback = 0.0
    for p in fail:
        nxt: dict[int, float] = {}
        for f, mass in reach.items():
            # k failures at this weight, then a pass; or threshold - f failures first.
            for k in range(threshold - f):
                nxt[f + k] = nxt.get(f + k, 0.0) + mass * p**k * (1 - p)
            rollback += mass * p ** (threshold - f)
        reach = nxt
    assert within_4_se(healthy_rate(experiment), rollback), rollback


def test_argo_count_and_failure_limit_per_analysis():
    experiment = imported("argo-count.yaml")
    stages = [(s.traffic_pct, s.duration_steps) for s in experiment.policy.stages]
    assert stages == [(20, 5), (50, 5)]
    limit = 1
    passes = 1.0
    for weight, count in stages:
        n = canary_requests(weight)
        p = stats.binom.sf(math.floor(0.02 * n), n, ERROR_RATE)  # E / n > 0.02, exactly
        passes *= stats.binom.cdf(limit, count, p)  # P(Binomial(count, p) <= L)
    assert within_4_se(healthy_rate(experiment), 1 - passes), 1 - passes


def test_kayenta_single_look_is_the_exact_mann_whitney_size():
    # One mean-latency metric, allowedIncrease 0 (no effect-size gate): without the
    # 0.25·|HL| margin the judge classes a healthy look High exactly when the continuity-
    # corrected rank statistic exceeds z_0.99 (one tail of the two-sided 98% interval):
    # an event on U alone, with an exact size. With Kayenta's margin the rate can only drop.
    service = {**SERVICE["service"], "baseline": "matched"}
    # The window's samples per side is an assumption of the import (60); 15 keeps the
    # exact null distribution cheap.
    fewer = ("samples_per_step: 60", "samples_per_step: 15")
    experiment = imported("kayenta-latency.json", fewer, service=service)
    rule = experiment.policy.rule
    n = rule.samples_per_step
    assert (rule.kind, rule.confidence, rule.tolerance, n) == ("kayenta", 0.98, 0.25, 15)
    assert experiment.policy.n_steps == 1
    null = exact_u_null(n, n)
    u = np.arange(n * n + 1)
    sd = math.sqrt(n * n * (2 * n + 1) / 12)
    z = (u - n * n / 2 - 0.5 * np.sign(u - n * n / 2)) / sd
    size = float(null[z > stats.norm.ppf(0.99)].sum())
    without_margin = parse_experiment(
        experiment_text("kayenta-latency.json", service)
        .replace(*fewer)
        .replace("tolerance: 0.25", "tolerance: 0"),
        file="k",
    )
    assert within_4_se(healthy_rate(without_margin), size), size
    assert healthy_rate(experiment) <= healthy_rate(without_margin)


def test_the_examples_validate_against_the_schema():
    examples = [
        p
        for system in ("argo", "flagger", "kayenta")
        for p in (ROOT / "examples" / system).rglob("*")
        if p.suffix in (".yaml", ".json")
    ]
    assert len(examples) == 4
    for path in sorted(examples):
        parse_experiment(import_manifests([path]).text, file=str(path))


def test_argo_inconclusive_measurements_stop_as_in_argo():
    # Argo stops (fails, or pauses for a human) when failed > 1 or inconclusive > 2 of 6
    # measurements: each measurement is Failed (success < 0.97), Inconclusive
    # (0.97 <= success < 0.99) or Successful, so the stop probability is one minus the
    # multinomial mass of (f <= 1, i <= 2). The import writes the band and the limit; the
    # engine's stop rate on the counts model is held to that, within 4 SE. Counting the
    # band as passing or as failing (the former bracket) gives rates far outside it.
    n = canary_requests(50)  # 60: success = (n - E) / n
    e = stats.binom(n, ERROR_RATE)
    p_fail = e.sf(math.floor(0.03 * n))  # success < 0.97  <=>  E > 0.03 n
    p_incl = e.sf(math.floor(0.01 * n)) - p_fail  # 0.97 <= success < 0.99
    count, f_limit, i_limit = 6, 1, 2
    lower = stats.binom.sf(f_limit, count, p_fail)
    upper = stats.binom.sf(f_limit, count, p_fail + p_incl)
    argo_stops = 1 - sum(
        stats.multinomial.pmf([f, i, count - f - i], count, [p_fail, p_incl, 1 - p_fail - p_incl])
        for f in range(f_limit + 1)
        for i in range(i_limit + 1)
    )
    se = math.sqrt(argo_stops * (1 - argo_stops) / ROLLOUTS)
    assert argo_stops - lower > 8 * se and upper - argo_stops > 8 * se  # the test can tell
    experiment = imported("argo-inconclusive.yaml")
    (metric,) = experiment.policy.metrics
    assert (metric.min, metric.inconclusive.min, metric.inconclusive.max) == (0.97, 0.99, None)
    assert experiment.policy.rule.inconclusive_limit == i_limit
    assert within_4_se(healthy_rate(experiment), argo_stops), argo_stops
    # The band counted as passing (no inconclusive band) is the binomial tail of failures.
    passing = imported("argo-inconclusive.yaml", ("inconclusive_limit: 2", "inconclusive_limit: 6"))
    assert within_4_se(healthy_rate(passing), lower), lower
