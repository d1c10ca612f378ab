"""Frozen, validated domain objects: what a policy, a world and an experiment are."""

from canary_mc.model import rule_caveats  # noqa: F401  (registers the rules' caveats)
from canary_mc.model.experiment import HEALTHY_NAME, Experiment
from canary_mc.model.policy import Policy, Stage
from canary_mc.model.sweep import Arange, Linspace, Sweep
from canary_mc.model.world import HEALTHY, CountsNoise, GaussianNoise, Noise, Scenario, Service

__all__ = [
    "HEALTHY",
    "HEALTHY_NAME",
    "Arange",
    "CountsNoise",
    "Experiment",
    "GaussianNoise",
    "Linspace",
    "Noise",
    "Policy",
    "Scenario",
    "Service",
    "Stage",
    "Sweep",
]
