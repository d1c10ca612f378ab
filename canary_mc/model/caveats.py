"""Caveats: valid experiments whose numbers come with a warning the user must see.

An experiment can be valid and still ask for something whose guarantee does not hold, or
leave part of the rollout unchecked (a delta metric at a stage without a baseline, a
statistical rule where the Gaussian model's clamp bites). Those are not errors: the run
is meaningful, but the user must be told. Each such finding is a :class:`Caveat`, found
by a check registered here with :func:`caveat_check`; ``validate`` and ``run`` print
every caveat, located in the file like an error (``warning: file:line:col: path: ...``).

Adding a caveat means one function with the ``@caveat_check`` decorator, in the module
that owns the rule it is about (imported by :mod:`canary_mc.model`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from canary_mc.model.experiment import Experiment


@dataclass(frozen=True)
class Caveat:
    """One warning about a valid experiment.

    Attributes
    ----------
    loc : tuple of str or int
        The field it is about, as the file spells it, e.g. ``("policy", "rule", "alpha")``;
        the loader turns it into ``file:line:col``.
    message : str
        What does not hold, why, and what to use instead.
    """

    loc: tuple[str | int, ...]
    message: str


CaveatCheck = Callable[["Experiment"], Iterable[Caveat]]

_CHECKS: list[CaveatCheck] = []


def caveat_check(check: CaveatCheck) -> CaveatCheck:
    """Register ``check``: a pure function of an experiment yielding its caveats."""
    _CHECKS.append(check)
    return check


def experiment_caveats(experiment: Experiment) -> tuple[Caveat, ...]:
    """Every caveat of ``experiment``, in registration order, duplicates dropped."""
    found: dict[Caveat, None] = {}
    for check in _CHECKS:
        found.update(dict.fromkeys(check(experiment)))
    return tuple(found)
