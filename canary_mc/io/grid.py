"""Grid expansion: a sweep section and a base document in, one document per grid point out.

Pure functions on plain values (the YAML document as dicts and lists); validation of the
resulting documents, and the file positions of problems, belong to
:mod:`canary_mc.io.experiment_file`.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from canary_mc.model.sweep import Sweep, axis_values

Loc = tuple[str | int, ...]

UNSWEEPABLE = {
    "name": "names the output folder",
    "description": "is free text",
    "sweep": "is the sweep itself",
}
"""Top-level keys that cannot be swept, and why."""


class PathError(ValueError):
    """A dotted sweep path that does not name a scalar parameter of the document."""


def resolve_path(document: dict[str, Any], path: str) -> Loc:
    """Where a dotted sweep path points in an experiment document.

    ``policy.stages.<stage>.<field>``, ``policy.metrics.<metric>.<field>`` and
    ``scenarios.<scenario>.<field>`` name a stage, metric or scenario by its name, so
    names may contain dots; a stage or metric may also be given by its 0-based index
    (``scenarios.<s>.faults.<metric>.error_delta`` and
    ``policy.stages.<stage>.metrics.<metric>.max`` follow from these). The target need
    not be present in the document (a default is then replaced), but every section above
    it must be. The target may be a section (a mapping
    such as ``policy.rule`` or ``scenarios.<name>``), then swept with mapping values; it may
    not be a list (``policy.stages``).

    Parameters
    ----------
    document : dict
        The experiment file's values.
    path : str
        E.g. ``policy.stages.canary-5pct.error_threshold``.

    Returns
    -------
    tuple
        Keys and list indices from the document's root to the parameter.

    Raises
    ------
    PathError
        If the path is empty, names an unsweepable key, a missing stage or scenario, or a
        list.
    """
    if not path or path.startswith(".") or path.endswith(".") or ".." in path:
        raise PathError("is not a dotted parameter path such as noise.error_sigma")
    head, _, rest = path.partition(".")
    if not rest and head in UNSWEEPABLE:
        raise PathError(f"cannot be swept: it {UNSWEEPABLE[head]}")
    if head == "policy" and rest.startswith("stages."):
        stages = _section(document, ("policy", "stages"), list)
        names = [s.get("name") if isinstance(s, dict) else None for s in stages]
        index, field = _named_member(rest.removeprefix("stages."), names, "stage")
        loc: Loc = (
            ("policy", "stages", index, *field.split(".")) if field else ("policy", "stages", index)
        )
    elif head == "policy" and rest.startswith("metrics."):
        metrics = _section(document, ("policy", "metrics"), list)
        names = [m.get("name") if isinstance(m, dict) else None for m in metrics]
        index, field = _named_member(rest.removeprefix("metrics."), names, "metric")
        loc = (
            ("policy", "metrics", index, *field.split("."))
            if field
            else ("policy", "metrics", index)
        )
    elif head == "scenarios" and rest:
        scenarios = _section(document, ("scenarios",), dict)
        names = list(scenarios)
        index, field = _named_member(rest, names, "scenario")
        loc = (
            ("scenarios", names[index], *field.split(".")) if field else ("scenarios", names[index])
        )
    else:
        loc = tuple(path.split("."))
    parent: Any = document
    for i, part in enumerate(loc[:-1]):
        parent = parent.get(part) if isinstance(parent, dict) else parent[part]
        if not isinstance(parent, dict | list):
            missing = ".".join(str(p) for p in loc[: i + 1])
            raise PathError(f"the file has no section {missing!r} to hold it")
    target = parent.get(loc[-1]) if isinstance(parent, dict) else None
    if isinstance(target, list):
        raise PathError(
            "is a list; sweep the fields of its items, e.g. policy.stages.<stage name>."
            "error_threshold"
        )
    return loc


def _section(document: dict[str, Any], loc: Loc, kind: type) -> Any:
    value: Any = document
    for part in loc:
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, kind):
        raise PathError(f"the file has no {'.'.join(map(str, loc))} to sweep in")
    return value


def _named_member(rest: str, names: list[Any], what: str) -> tuple[int, str]:
    """Split ``<name>.<field>`` where the name may contain dots; the longest name wins."""
    if rest in names:
        return names.index(rest), ""
    matches = [
        (len(name), i)
        for i, name in enumerate(names)
        if isinstance(name, str) and rest.startswith(name + ".")
    ]
    if matches:
        length, index = max(matches)
        return index, rest[length + 1 :]
    head, _, field = rest.partition(".")
    if head.isdigit() and int(head) < len(names) and field:
        return int(head), field
    known = ", ".join(repr(n) for n in names if isinstance(n, str))
    raise PathError(f"names no {what} of the file (known: {known or 'none'})")


def assign(document: dict[str, Any], values: dict[Loc, Any]) -> dict[str, Any]:
    """A deep copy of ``document`` with each ``loc`` set to its value."""
    out = copy.deepcopy(document)
    for loc, value in values.items():
        parent: Any = out
        for part in loc[:-1]:
            parent = parent[part]
        parent[loc[-1]] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class GridPoint:
    """One point of a sweep: its position and the value of every swept path.

    Attributes
    ----------
    index : int
        0-based position in expansion order (grid axes crossed, first varying slowest,
        then the zip rows). It names the point in output files; random streams never
        depend on it.
    values : dict of str to scalar
        Swept path to value, in :attr:`Sweep.paths` order.
    """

    index: int
    values: dict[str, Any]


def expand(sweep: Sweep | None) -> Iterator[GridPoint]:
    """Every grid point of a sweep, in order; a file with no sweep has one empty point."""
    if sweep is None:
        yield GridPoint(0, {})
        return
    axes = [[(path, v) for v in axis_values(spec)] for path, spec in sweep.grid.items()]
    rows = [list(row.items()) for row in sweep.zip] or [[]]
    paths = sweep.paths
    for index, (*cells, row) in enumerate(itertools.product(*axes, rows)):
        values = dict([*cells, *row])
        yield GridPoint(index, {path: values[path] for path in paths})
