"""The experiment: everything one run needs, as one frozen object."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from canary_mc.model._base import Frozen, Rollouts, Seed, raise_at
from canary_mc.model.policy import Policy
from canary_mc.model.sweep import Sweep
from canary_mc.model.world import HEALTHY, Noise, Scenario, Service

HEALTHY_NAME = "healthy"

MAX_NAME_BYTES = 255
"""Longest experiment name in UTF-8 bytes: a file name on common file systems."""


def name_problem(name: str) -> str | None:
    """The rule "a name is one safe path component": ``None`` if it is, else what is wrong.

    The name is the results folder under ``--out``; an experiment file from elsewhere
    must not write outside it (``../x``, ``/etc``, ``C:\\x``) or into ``--out`` itself.
    """
    if name in (".", ".."):
        return f"must be a folder name, not {name!r}"
    bad = [c for c in name if c in "/\\:" or ord(c) < 32 or ord(c) == 127]
    if bad:
        return (
            f"must be one folder name, without '/', '\\', ':' or control characters, got {name!r}"
        )
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"must be at most {MAX_NAME_BYTES} bytes long (a folder name), got {len(name)}"
    return None


def onset_stage_problem(ref: str | int, stage_names: Sequence[str]) -> str | None:
    """The rule "onset_stage names a stage": ``None`` if it does, else what is wrong.

    Shared by :class:`Experiment` and the file loader, which applies it to raw input.
    """
    if isinstance(ref, str) and ref in stage_names:
        return None
    if isinstance(ref, int) and 0 <= ref < len(stage_names):
        return None
    known = ", ".join(repr(n) for n in stage_names)
    return (
        f"must name a stage ({known}) or be a 0-based index below {len(stage_names)}, got {ref!r}"
    )


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
        See :class:`Policy`, :class:`Service`, :class:`GaussianNoise` and
        :class:`CountsNoise`.
    scenarios : dict of str to Scenario
        Canary behaviours to evaluate. A scenario named ``healthy`` must have no effect.
    sweep : Sweep, optional
        Parameters to vary (see :class:`~canary_mc.model.sweep.Sweep`). The experiment
        itself is the sweep's base; each grid point is an experiment without a sweep.
    """

    name: Annotated[str, Field(min_length=1)] = "experiment"
    description: str = ""
    seed: Annotated[Seed, Field(ge=0)] = 0
    rollouts: Annotated[Rollouts, Field(ge=1)] = 10_000
    policy: Policy
    service: Service
    noise: Noise
    scenarios: dict[str, Scenario] = Field(default_factory=dict)
    sweep: Sweep | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        problem = name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        return name

    @model_validator(mode="after")
    def _scenarios_consistent(self) -> Experiment:
        problems = []
        for name, scenario in self.scenarios.items():
            if name == HEALTHY_NAME and not scenario.healthy:
                problems.append(
                    (
                        ("scenarios", name),
                        "the scenario named 'healthy' must have no effect (all deltas, ramps "
                        "and error_relative 0, latency_factor 1)",
                        scenario.model_dump(),
                    )
                )
            if scenario.latency_tail_only and self.noise.model != "counts":
                problems.append(
                    (
                        ("scenarios", name, "latency_tail_only"),
                        "needs noise.model: counts (the Gaussian model has no latency "
                        "distribution to have a tail)",
                        True,
                    )
                )
            ref = scenario.onset_stage
            message = None if ref is None else onset_stage_problem(ref, self.policy.stage_names)
            if message is not None:
                problems.append((("scenarios", name, "onset_stage"), message, ref))
        problems.extend(self._traffic_problems())
        if problems:
            raise_at("Experiment", problems)
        return self

    def _traffic_problems(self) -> list[tuple[tuple[str, ...], str, object]]:
        """Traffic fields are required by the counts model and meaningless without it."""
        service = self.service
        if self.noise.model == "counts":
            if service.requests_per_step is None:
                return [
                    (
                        ("service", "requests_per_step"),
                        "required by noise.model: counts",
                        None,
                    )
                ]
            return []
        unused = {
            "requests_per_step": service.requests_per_step is not None,
            "baseline": service.baseline != "rest",
            "diurnal_amplitude": service.diurnal_amplitude != 0,
        }
        return [
            (
                ("service", field),
                "only used by noise.model: counts (the Gaussian model has no traffic)",
                getattr(service, field),
            )
            for field, set_ in unused.items()
            if set_
        ]

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
