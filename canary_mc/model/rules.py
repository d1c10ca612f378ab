"""Decision rules: how a series of per-step checks becomes a rollback.

``Policy.rule`` is one of these models, chosen by its ``kind``. The bare string
``threshold`` (the seed's spelling) means ``{kind: threshold}``. Every parameter is a plain
scalar field, so a sweep can address it as ``policy.rule.<field>``. ``docs/rules.md``
states each rule's semantics and the real tool it mirrors.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StrictBool, model_serializer, model_validator

from canary_mc.model._base import (
    MAX_STEPS,
    Bound,
    Frozen,
    Number,
    Probability,
    Steps,
    bounded_count,
    bounded_number,
    drop_defaults,
    raise_at,
)

MIN_STEP_WEIGHT = 100 / MAX_STEPS
"""Smallest Flagger ``stepWeight``: a smaller one makes more than :data:`MAX_STEPS` weights."""

StepWeight = bounded_number(
    Bound(100.0, f"more weights than {MAX_STEPS} exceed the step cap", low=MIN_STEP_WEIGHT)
)

MAX_SAMPLES = 100
"""Most Mann-Whitney samples per side and step. The U test compares every pair of the
pooled samples: its working set grows as ``m^2`` (``canary_mc.engine.cost``), about
45 KB per rollout-step at 100, so one 4,096-rollout block needs about 180 MB per step
(400 samples asked for 48 GiB)."""

Samples = bounded_count(Bound(MAX_SAMPLES, "the U test's memory grows as its square"))


class ThresholdRule(Frozen):
    """The seed's rule: roll back at the first step whose delta strictly exceeds its limit."""

    kind: Literal["threshold"] = "threshold"


class FailureLimitRule(Frozen):
    """Argo Rollouts: a metric fails when its failed measurements exceed ``failure_limit``.

    Every step is one measurement per metric (error rate, latency), failed when its delta
    strictly exceeds the stage's limit. Each metric counts its own failures, as Argo does;
    the rollout rolls back at the step where any metric's count becomes
    ``> failure_limit``.

    Parameters
    ----------
    failure_limit : int
        Failures tolerated, >= 0 (Argo's default 0: the first failure rolls back).
    scope : {"stage", "rollout"}
        ``stage``: counts restart at each stage (an inline AnalysisRun per step);
        ``rollout``: one count over the whole rollout (a background analysis).
    consecutive : bool
        Count only consecutive failures: a passing measurement resets the count.
    inconclusive_limit : int
        Inconclusive measurements tolerated per metric and analysis, >= 0 (Argo's
        ``inconclusiveLimit``, default 0). A measurement is Inconclusive when it does not
        fail but lies outside the metric's ``inconclusive`` band; the analysis stops at
        the step where a metric's count becomes ``> inconclusive_limit``, counted as a
        rollback by that metric.
    """

    kind: Literal["failure_limit"]
    failure_limit: Annotated[Steps, Field(ge=0)] = 0
    scope: Literal["stage", "rollout"] = "stage"
    consecutive: StrictBool = False
    inconclusive_limit: Annotated[Steps, Field(ge=0)] = 0

    @model_serializer(mode="wrap")
    def _serialize(self, handler):
        return drop_defaults(handler(self), {"inconclusive_limit": 0})


class CumulativeChecksRule(Frozen):
    """Flagger: failed checks add up over the rollout; a failing check holds the weight.

    A check at a step fails when any metric's delta strictly exceeds its limit. A passing
    check counts towards the stage's ``duration_steps`` (Flagger: one passing check per
    weight); a failing check adds one to the failed-check count and the rollout stays at
    the same weight. The rollout rolls back when the count reaches ``threshold``, and a
    rollout runs at most ``n_steps + threshold - 1`` steps.

    Parameters
    ----------
    threshold : int
        Failed checks that roll back, >= 1 (Flagger's ``analysis.threshold``).
    step_weight : float, optional
        Flagger's ``stepWeight`` in percent. When set, ``policy.stages`` must hold one
        template stage (its thresholds and ``duration_steps`` apply at every weight) and
        the stages become the weights ``step_weight, 2 * step_weight, ...`` (capped at
        100) up to the first one ``>= max_weight``. Unset: the stages' ``traffic_pct`` are
        the weights (Flagger's ``stepWeights`` list).
    max_weight : float
        Flagger's ``maxWeight`` in percent, used with ``step_weight``. Default 100.
    """

    kind: Literal["cumulative_checks"]
    threshold: Annotated[Steps, Field(ge=1)] = 1
    step_weight: Annotated[StepWeight | None, Field(gt=0, le=100)] = None
    max_weight: Annotated[Number, Field(gt=0, le=100)] = 100.0


class ZTestRule(Frozen):
    """A one-sided z-test of canary against baseline at every step.

    Under the Gaussian model the statistic is ``Z_k = S_k / (sigma * sqrt(k))``, ``S_k``
    the sum of the ``k`` deltas seen so far in the analysis: the mean delta against its
    known standard error. The metric fails when ``Z_k`` exceeds the look's critical value.

    Parameters
    ----------
    alpha : float
        One-sided significance level of one analysis, in (0, 1).
    scope : {"stage", "rollout"}
        Evidence accumulated over each stage (a new test per stage) or the whole rollout.
    correction : {"none", "bonferroni", "pocock", "obrien_fleming", \
"obrien_fleming_spending", "pocock_spending"}
        For the ``K`` looks of an analysis (a stage's ``duration_steps``, or the rollout's
        steps): ``none`` tests each look at ``alpha``; ``bonferroni`` at ``alpha / K``;
        ``pocock`` at the constant ``c_P(K)``; ``obrien_fleming`` at ``c_B(K) sqrt(K/k)``;
        these two hold the level at ``alpha`` when every look adds the same information.
        ``obrien_fleming_spending`` and ``pocock_spending`` spend ``alpha`` by information
        fraction (Lan-DeMets), on the analysis's real information per look (counts
        model: ``1 / (1/N_c + 1/N_b)`` of the cumulative requests), so the level is
        ``alpha`` at any traffic plan, up to the normal approximation.
        ``calibrated``: one constant ``critical_value`` at every look, found by simulating
        the healthy canary on the file's own traffic plan so that the rule's real
        false-alarm rate (every analysis and metric together) is ``alpha``
        (:mod:`canary_mc.tune.calibrate`).
    critical_value : float, optional
        ``calibrated`` only: the z-scale constant; set by calibration when absent.
    alpha_split : {"per_metric", "shared"}
        With ``N`` metrics: ``per_metric`` (default) tests each at the full level, so a
        healthy canary fails some metric with probability up to ``N`` times it;
        ``shared`` splits it (Bonferroni: each metric at level / ``N``), which holds the
        family-wise false-alarm rate at the level.
    """

    kind: Literal["ztest"]
    alpha: Probability = 0.05
    scope: Literal["stage", "rollout"] = "rollout"
    correction: Literal[
        "none",
        "bonferroni",
        "pocock",
        "obrien_fleming",
        "obrien_fleming_spending",
        "pocock_spending",
        "calibrated",
    ] = "none"
    alpha_split: Literal["per_metric", "shared"] = "per_metric"
    critical_value: Annotated[Number, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _critical_value_only_when_calibrated(self) -> ZTestRule:
        if self.critical_value is not None and self.correction != "calibrated":
            raise_at(
                "ZTestRule",
                [
                    (
                        ("critical_value",),
                        "is used only with correction: calibrated (the other corrections "
                        f"compute their own critical values), got correction: {self.correction}",
                        self.critical_value,
                    )
                ],
            )
        return self


class SprtRule(Frozen):
    """Wald's sequential probability ratio test, one per metric and stage.

    Under the Gaussian model each delta is ``N(mu, sigma^2)``; H0 is ``mu = 0`` (the
    baseline) and H1 is ``mu = `` the minimum detectable increase. The log-likelihood
    ratio is summed over the stage's steps: at ``>= ln((1 - beta) / alpha)`` the metric
    fails (roll back); at ``<= ln(beta / (1 - alpha))`` it accepts. When every metric
    has accepted the rollout advances to the next stage before the stage's bake time
    ends; a stage whose bake time ends undecided passes.

    Parameters
    ----------
    alpha, beta : float
        Wald's nominal error probabilities, in (0, 1), with ``alpha + beta < 1``.
    min_error_increase : float
        Error-rate increase (fraction) that H1 puts on the canary, > 0.
    min_latency_increase_ms : float
        Latency increase (ms) that H1 puts on the canary, > 0.
    alpha_split : {"per_metric", "shared"}
        With ``N`` metrics: ``per_metric`` (default) tests each at the full alpha, so a
        healthy canary fails some metric with probability up to ``N`` times it;
        ``shared`` splits it (Bonferroni: each metric at alpha / ``N``), which holds the
        family-wise false-alarm rate at the alpha.
    """

    kind: Literal["sprt"]
    alpha: Probability = 0.05
    beta: Probability = 0.2
    min_error_increase: Annotated[Number, Field(gt=0)] = 0.005
    min_latency_increase_ms: Annotated[Number, Field(gt=0)] = 10.0
    alpha_split: Literal["per_metric", "shared"] = "per_metric"

    @model_validator(mode="after")
    def _errors_below_one(self) -> SprtRule:
        if self.alpha + self.beta >= 1:
            raise_at(
                "SprtRule",
                [
                    (
                        ("beta",),
                        f"alpha + beta must be below 1, got {self.alpha + self.beta:g}",
                        self.beta,
                    )
                ],
            )
        return self


class MsprtRule(Frozen):
    """An always-valid mixture SPRT (normal mixture, one-sided), at every step.

    Under the Gaussian model, with the mixing distribution ``N(0, (tau * sigma)^2)`` on the
    mean delta, the mixture likelihood ratio after ``n`` deltas summing to ``S`` is
    ``(1 + n tau^2)^(-1/2) exp(tau^2 S^2 / (2 sigma^2 (1 + n tau^2)))``. The metric fails
    when ``S > 0`` and the ratio reaches ``1 / alpha``. By Ville's inequality a healthy
    canary fails with probability at most ``alpha`` however many looks are taken.

    Parameters
    ----------
    alpha : float
        Bound on the false-alarm probability of one analysis, in (0, 1).
    tau : float
        Standard deviation of the mixing distribution, in units of the per-step noise
        standard deviation ``sigma``, > 0.
    scope : {"stage", "rollout"}
        One analysis per stage, or one over the whole rollout.
    alpha_split : {"per_metric", "shared"}
        With ``N`` metrics: ``per_metric`` (default) tests each at the full level, so a
        healthy canary fails some metric with probability up to ``N`` times it;
        ``shared`` splits it (Bonferroni: each metric at level / ``N``), which holds the
        family-wise false-alarm rate at the level.
    """

    kind: Literal["msprt"]
    alpha: Probability = 0.05
    tau: Annotated[Number, Field(gt=0)] = 1.0
    scope: Literal["stage", "rollout"] = "rollout"
    alpha_split: Literal["per_metric", "shared"] = "per_metric"


class MannWhitneyRule(Frozen):
    """Kayenta-style: a one-sided Mann-Whitney U test per step and metric.

    At every step each side gives ``samples_per_step`` metric samples (sub-interval
    measurements); the metric fails when the normal-approximation U test (tie and
    continuity corrected, as ``scipy.stats.mannwhitneyu(..., alternative="greater",
    method="asymptotic")``) gives ``p < 1 - confidence`` and, if ``allowed_increase`` is
    set, Kayenta's effect-size tolerance also holds: ``mean(canary) / mean(baseline) >=
    allowed_increase`` (a zero baseline mean, ratio NaN, counts as holding).

    Parameters
    ----------
    confidence : float
        In (0, 1); Kayenta uses 0.98.
    samples_per_step : int
        Samples per side and step, >= 2.
    allowed_increase : float or None
        Kayenta's ``allowedIncrease`` mean ratio (e.g. 1.1); ``None``: no effect check.
    alpha_split : {"per_metric", "shared"}
        With ``N`` metrics: ``per_metric`` (default) tests each at the full ``1 - confidence``, so a
        healthy canary fails some metric with probability up to ``N`` times it;
        ``shared`` splits it (Bonferroni: each metric at level / ``N``), which holds the
        family-wise false-alarm rate at ``1 - confidence``.
    """

    kind: Literal["mannwhitney"]
    confidence: Probability = 0.98
    samples_per_step: Annotated[Samples, Field(ge=2)] = 10
    allowed_increase: Annotated[Number, Field(ge=0)] | None = None
    alpha_split: Literal["per_metric", "shared"] = "per_metric"


class KayentaMetric(Frozen):
    """How Kayenta's judge reads one metric (``policy.rule.metrics.<metric name>``).

    Parameters
    ----------
    group : str
        The group whose score the metric counts in. Default ``default``.
    direction : {"increase", "decrease", "either"}, optional
        Which change fails it; default the metric's own ``direction``.
    allowed_increase, allowed_decrease : float
        Kayenta's ``effectSize`` margins on the mean ratio canary / baseline (default 1.0).
    critical : bool
        A failing critical metric fails the whole analysis (score 0).
    """

    group: Annotated[str, Field(min_length=1)] = "default"
    direction: Literal["increase", "decrease", "either"] | None = None
    allowed_increase: Annotated[Number, Field(ge=0)] = 1.0
    allowed_decrease: Annotated[Number, Field(ge=0)] = 1.0
    critical: StrictBool = False


class KayentaRule(Frozen):
    """Kayenta's NetflixACAJudge at every step (``canary_mc.engine.rules.kayenta_judge``).

    Each metric is classed Pass, High or Low from ``samples_per_step`` samples per side:
    the two-sided Mann-Whitney interval at ``confidence`` must clear
    ``tolerance · |Hodges-Lehmann estimate|`` and the mean ratio its allowed margin. Group
    scores (percent of passing metrics) are weighted into a score; a critical failure
    scores 0. The step fails (roll back) when the score is below ``pass_threshold``: a
    marginal score is not a pass.

    Parameters
    ----------
    samples_per_step : int
        Samples per side and step, >= 2.
    confidence : float
        Two-sided confidence of the interval; Kayenta's 0.98.
    tolerance : float
        Kayenta's 0.25.
    pass_threshold : float
        ``scoreThresholds.pass`` on the 0-100 score.
    group_weights : dict of str to float
        ``classifier.groupWeights``; groups without a weight share what is left of 100.
    metrics : dict of str to KayentaMetric
        Per metric (by name) its group, direction, margins and criticality.
    """

    kind: Literal["kayenta"]
    samples_per_step: Annotated[Samples, Field(ge=2)] = 10
    confidence: Probability = 0.98
    tolerance: Annotated[Number, Field(ge=0)] = 0.25
    pass_threshold: Annotated[Number, Field(ge=0, le=100)] = 95.0
    group_weights: dict[str, Annotated[Number, Field(ge=0, le=100)]] = Field(default_factory=dict)
    metrics: dict[str, KayentaMetric] = Field(default_factory=dict)


def flagger_weights(step_weight: float, max_weight: float) -> list[float]:
    """Flagger's traffic weights in percent: ``+step_weight`` per passing check, capped at
    100, until a weight ``>= max_weight`` (max 50, step 20 gives 20, 40, 60)."""
    weights = [min(100.0, step_weight)]
    while weights[-1] < max_weight:
        weights.append(min(100.0, weights[-1] + step_weight))
    return weights


def _bare_kind(value: Any) -> Any:
    # The seed writes ``rule: threshold``; a bare kind name means that rule's defaults.
    if isinstance(value, str):
        return {"kind": value}
    return value


Rule = Annotated[
    ThresholdRule
    | FailureLimitRule
    | CumulativeChecksRule
    | ZTestRule
    | SprtRule
    | MsprtRule
    | MannWhitneyRule
    | KayentaRule,
    BeforeValidator(_bare_kind),
    Field(discriminator="kind"),
]
"""The decision-rule union, discriminated by ``kind``."""

STATISTICAL_RULES = ("ztest", "sprt", "msprt", "mannwhitney", "kayenta")
"""Rules that test canary against baseline (every metric needs ``compare: delta``)."""

RULE_KINDS = (
    "threshold",
    "failure_limit",
    "cumulative_checks",
    "ztest",
    "sprt",
    "msprt",
    "mannwhitney",
    "kayenta",
)
