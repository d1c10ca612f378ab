"""Frozen, validated domain objects: what a policy, a world and an experiment are."""

from canary_mc.model.experiment import HEALTHY_NAME, Experiment
from canary_mc.model.policy import Policy, Stage
from canary_mc.model.world import HEALTHY, CountsNoise, GaussianNoise, Noise, Scenario, Service

__all__ = [
    "HEALTHY",
    "HEALTHY_NAME",
    "CountsNoise",
    "Experiment",
    "GaussianNoise",
    "Noise",
    "Policy",
    "Scenario",
    "Service",
    "Stage",
]
