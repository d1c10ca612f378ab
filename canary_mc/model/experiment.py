"""The experiment: everything one run needs, as one frozen object."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from canary_mc.model._base import Count, Frozen, raise_at
from canary_mc.model.policy import Policy
from canary_mc.model.world import HEALTHY, Noise, Scenario, Service

HEALTHY_NAME = "healthy"


class Experiment(Frozen):
    """A policy, a world and the scenarios to evaluate it on.

    Parameters
    ----------
    name : str
        Name used in output; the file loader defaults it to the file's stem.
    description : str
        Free text.
    seed : int
        Entropy for ``numpy.random.SeedSequence``; >= 0.
    rollouts : int
        Number of simulated rollouts per scenario, >= 1.
    policy, service, noise
        See :class:`Policy`, :class:`Service`, :class:`GaussianNoise`.
    scenarios : dict of str to Scenario
        Canary behaviours to evaluate. A scenario named ``healthy`` must have no effect.
    """

    name: Annotated[str, Field(min_length=1)] = "experiment"
    description: str = ""
    seed: Annotated[Count, Field(ge=0)] = 0
    rollouts: Annotated[Count, Field(ge=1)] = 10_000
    policy: Policy
    service: Service
    noise: Noise
    scenarios: dict[str, Scenario] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _scenarios_consistent(self) -> Experiment:
        problems = []
        for name, scenario in self.scenarios.items():
            if name == HEALTHY_NAME and not scenario.healthy:
                problems.append(
                    (
                        ("scenarios", name),
                        "the scenario named 'healthy' must have no effect (all deltas and ramps 0)",
                        scenario.model_dump(),
                    )
                )
            ref = scenario.onset_stage
            if ref is None:
                continue
            try:
                self.policy.stage_index(ref)
            except KeyError:
                known = ", ".join(repr(n) for n in self.policy.stage_names)
                problems.append(
                    (
                        ("scenarios", name, "onset_stage"),
                        f"must name a stage ({known}) or be a 0-based index below "
                        f"{len(self.policy.stages)}, got {ref!r}",
                        ref,
                    )
                )
        if problems:
            raise_at("Experiment", problems)
        return self

    @property
    def evaluated_scenarios(self) -> dict[str, Scenario]:
        """The scenarios to run: those given, plus ``healthy`` first if none is healthy.

        False-alarm rates need a healthy canary, so one is always evaluated.
        """
        if any(s.healthy for s in self.scenarios.values()):
            return dict(self.scenarios)
        return {HEALTHY_NAME: HEALTHY, **self.scenarios}

    @property
    def healthy_scenario(self) -> str:
        """Name of the scenario whose rollback rate is the false-alarm rate."""
        return next(name for name, s in self.evaluated_scenarios.items() if s.healthy)
