"""The rule registry: one table from a rule's ``kind`` to everything that runs it.

Each :class:`RuleEntry` names the rule's model (``canary_mc.model.rules``), its schedule
(which driver runs it), its kernel on each noise model and its scalar reference. Code
that needs a rule looks it up here by ``kind``, never through an ``isinstance`` chain.

Adding a rule: its model (``model/rules.py``), its kernels (one module here) and one
:data:`RULES` line (see ``docs/ARCHITECTURE.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from canary_mc.engine.core.outcomes import Outcomes
from canary_mc.engine.core.schedule import PolicyPlan, WorldPlan
from canary_mc.engine.noise.counts import decide_counts_threshold
from canary_mc.engine.noise.draws import GaussianDraws
from canary_mc.engine.rules.kernels import gaussian_threshold
from canary_mc.engine.rules.rules_counts import counts_failure_limit, counts_sum_test
from canary_mc.engine.rules.rules_gaussian import (
    gaussian_failure_limit,
    gaussian_held,
    gaussian_sum_test,
)
from canary_mc.model import rules as models


@dataclass(frozen=True)
class RuleEntry:
    """How one decision rule runs.

    Attributes
    ----------
    model : type
        Its pydantic model (``policy.rule`` with this ``kind``).
    schedule : {"fixed", "held", "samples"}
        ``fixed``: every stage runs its steps, the kernels see whole paths; ``held``:
        a stage pointer per rollout (:func:`canary_mc.engine.rules.held.run_held`,
        counts drawn step by step); ``samples``: per-step samples of both sides
        (:mod:`canary_mc.engine.rules.mannwhitney`).
    gaussian : callable, optional
        ``(GaussianDraws, WorldPlan, PolicyPlan) -> Outcomes`` (``fixed`` and ``held``).
    counts : callable, optional
        ``(CountsObservations, CountsWorldPlan, PolicyPlan) -> Outcomes`` (``fixed``).
    reference : str
        The scalar reference the tests hold the kernels equal to (``module:function``).
    """

    model: type
    schedule: Literal["fixed", "held", "samples"]
    gaussian: Callable[[GaussianDraws, WorldPlan, PolicyPlan], Outcomes] | None
    counts: Callable[..., Outcomes] | None
    reference: str


RULES: dict[str, RuleEntry] = {
    "threshold": RuleEntry(
        models.ThresholdRule,
        "fixed",
        gaussian_threshold,
        decide_counts_threshold,
        "canary_mc.reference:reference_rollout",
    ),
    "failure_limit": RuleEntry(
        models.FailureLimitRule,
        "fixed",
        gaussian_failure_limit,
        counts_failure_limit,
        "canary_mc.reference_rules:reference_rule_rollout",
    ),
    "cumulative_checks": RuleEntry(
        models.CumulativeChecksRule,
        "held",
        gaussian_held,
        None,
        "canary_mc.reference_rules:reference_rule_rollout",
    ),
    "ztest": RuleEntry(
        models.ZTestRule,
        "fixed",
        gaussian_sum_test,
        counts_sum_test,
        "canary_mc.reference_rules:reference_rule_rollout",
    ),
    "sprt": RuleEntry(
        models.SprtRule,
        "held",
        gaussian_held,
        None,
        "canary_mc.reference_rules:reference_rule_rollout",
    ),
    "msprt": RuleEntry(
        models.MsprtRule,
        "fixed",
        gaussian_sum_test,
        counts_sum_test,
        "canary_mc.reference_rules:reference_rule_rollout",
    ),
    "mannwhitney": RuleEntry(
        models.MannWhitneyRule,
        "samples",
        None,
        None,
        "scipy.stats:mannwhitneyu",
    ),
}
"""Every decision rule, by ``kind`` (the keys are ``canary_mc.model.rules.RULE_KINDS``)."""


def rollout_outcomes(draws: GaussianDraws, world: WorldPlan, policy: PolicyPlan) -> Outcomes:
    """Any fixed or held rule on Gaussian draws of shape ``(n_rollouts, policy.max_steps)``.

    Returns
    -------
    Outcomes
        Arrays of shape ``(n_rollouts,)``.
    """
    kernel = RULES[policy.rule.kind].gaussian
    if kernel is None:
        raise ValueError(f"policy.rule: kind {policy.rule.kind!r} has no path kernel")
    return kernel(draws, world, policy)
