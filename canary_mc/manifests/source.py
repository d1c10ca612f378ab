"""Shared parts of the manifest readers: located values, typed access, durations, notes.

Every value a reader takes from a manifest is a :class:`Sourced` value: the value, the
``file:line`` it came from and the manifest field's path. Whatever is not modelled is an
:class:`Assumption` carrying the same citation. Malformed input is collected as located
:class:`~canary_mc.errors.Problem` s and raised at once as a
:class:`~canary_mc.errors.ManifestError` (the CLI exits 2).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from canary_mc.errors import ManifestError, Problem
from canary_mc.io.located_yaml import KEY, Loc, LocatedDocument, dotted, spelled

T = TypeVar("T")


@dataclass(frozen=True)
class Cite:
    """Where a value stands: file and 1-based line and column."""

    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A value read from a manifest, with its citation and field path."""

    value: T
    cite: Cite
    field: str

    def __str__(self) -> str:
        return f"{self.field} = {self.value!r} ({self.cite})"


@dataclass(frozen=True)
class Assumption:
    """Something in a manifest that canary-mc does not model, and what it assumes instead."""

    cite: Cite
    field: str
    text: str

    def __str__(self) -> str:
        return f"{self.cite}: {self.field}: {self.text}"


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """A Go duration (``30s``, ``1m30s``, ``1.5h``, ``0``) in seconds; ``ValueError`` if not one.

    Go's ``time.ParseDuration`` grammar without a sign: what Argo's ``interval`` and
    ``initialDelay`` and Flagger's ``interval`` accept.
    """
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        part = _DURATION_PART.match(text, pos)
        if part is None:
            raise ValueError(f"is not a duration such as 30s, 5m or 1h30m, got {text!r}")
        total += float(part.group(1)) * _SECONDS[part.group(2)]
        pos = part.end()
    if pos == 0:
        raise ValueError(f"is not a duration such as 30s, 5m or 1h30m, got {text!r}")
    return total


def format_go_duration(seconds: float) -> str:
    """Seconds as a short Go duration: ``60`` -> ``1m``, ``90`` -> ``90s``, ``3600`` -> ``1h``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


@dataclass
class Manifest:
    """One document of a manifest file, with typed located access and a problem list.

    Attributes
    ----------
    file : str
        The path as given by the user.
    located : LocatedDocument
        The document and the position of every value.
    problems : list of Problem
        Shared by every manifest of one import, raised together at the end.
    """

    file: str
    located: LocatedDocument
    problems: list[Problem] = field(default_factory=list)

    @property
    def body(self) -> Any:
        return self.located.document

    def cite(self, loc: Loc) -> Cite:
        line, col = self.located.position(loc)
        return Cite(self.file, line, col)

    def key_cite(self, loc: Loc) -> Cite:
        """The position of the key naming ``loc`` (where a missing child would go)."""
        if (*loc, KEY) in self.located.positions:
            return self.cite((*loc, KEY))
        return self.cite(loc)

    def problem(self, loc: Loc, message: str) -> None:
        cite = self.cite(loc)
        self.problems.append(Problem(self.file, cite.line, cite.col, dotted(loc), message))

    def raw(self, loc: Loc) -> Any:
        """The plain value at ``loc``, or ``None`` when any part of the path is missing."""
        node = self.body
        for part in loc:
            if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
                node = node[part]
            elif isinstance(part, str) and isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return None
        return node

    def has(self, loc: Loc) -> bool:
        parent = self.raw(loc[:-1])
        return isinstance(parent, dict) and loc[-1] in parent

    def sourced(self, loc: Loc, value: T) -> Sourced[T]:
        return Sourced(value, self.cite(loc), dotted(loc))

    def mapping(self, loc: Loc, *, required: bool = False) -> dict[str, Any] | None:
        value = self.raw(loc)
        if value is None:
            if required:
                self.problem(loc[:-1], f"must have '{loc[-1]}', a mapping")
            return None
        if not isinstance(value, dict):
            self.problem(loc, f"must be a mapping, got {spelled(value)}")
            return None
        return value

    def sequence(self, loc: Loc, *, required: bool = False) -> list[Any]:
        value = self.raw(loc)
        if value is None:
            if required:
                self.problem(loc[:-1], f"must have '{loc[-1]}', a list")
            return []
        if not isinstance(value, list):
            self.problem(loc, f"must be a list, got {spelled(value)}")
            return []
        return value

    def text(self, loc: Loc, *, required: bool = False) -> Sourced[str] | None:
        value = self.raw(loc)
        if value is None:
            if required:
                self.problem(loc[:-1], f"must have '{loc[-1]}', a text")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(loc, f"must be a non-empty text, got {spelled(value)}")
            return None
        return self.sourced(loc, value)

    def number(
        self,
        loc: Loc,
        *,
        required: bool = False,
        integer: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        numeric_text: bool = False,
    ) -> Sourced[float] | None:
        """A number (an int when ``integer``) within bounds; ``numeric_text`` accepts "3"."""
        value = self.raw(loc)
        if value is None:
            if required:
                self.problem(loc[:-1], f"must have '{loc[-1]}', a number")
            return None
        if numeric_text and isinstance(value, str):
            try:
                value = int(value) if integer else float(value)
            except ValueError:
                pass
        kind = "a whole number" if integer else "a number"
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (integer and not float(value).is_integer())
            or not math.isfinite(value)
        ):
            self.problem(loc, f"must be {kind}, got {spelled(self.raw(loc))}")
            return None
        if minimum is not None and value < minimum:
            self.problem(loc, f"must be at least {minimum:g}, got {value:g}")
            return None
        if maximum is not None and value > maximum:
            self.problem(loc, f"must be at most {maximum:g}, got {value:g}")
            return None
        return self.sourced(loc, int(value) if integer else float(value))

    def duration(self, loc: Loc, *, bare_seconds: bool = False) -> Sourced[float] | None:
        """A Go duration in seconds; ``bare_seconds`` also takes seconds as a number (pause)."""
        value = self.raw(loc)
        if value is None:
            return None
        if bare_seconds and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return self.sourced(loc, float(value))
        if bare_seconds and isinstance(value, str) and value.isdigit():
            return self.sourced(loc, float(value))
        if not isinstance(value, str):
            self.problem(loc, f"must be a duration such as 30s or 5m, got {spelled(value)}")
            return None
        try:
            return self.sourced(loc, parse_go_duration(value))
        except ValueError as exc:
            self.problem(loc, str(exc))
            return None


def sort_by_kind(
    manifests: list[Manifest], template_kinds: tuple[str, ...], policy_kind: str, notes: list
) -> tuple[dict[str, Manifest], list[Manifest]]:
    """Templates by ``metadata.name``, and the policy objects; other kinds are noted."""
    templates: dict[str, Manifest] = {}
    policies: list[Manifest] = []
    for m in manifests:
        kind = m.body.get("kind")
        if kind in template_kinds:
            name = m.text(("metadata", "name"), required=True)
            if name is not None:
                templates[name.value] = m
        elif kind == policy_kind:
            policies.append(m)
        else:
            notes.append(
                Assumption(m.cite(("kind",)), "kind", f"{kind} is not read (not a canary policy)")
            )
    return templates, policies


def find_template(
    m: Manifest, loc: Loc, templates: dict[str, Manifest], what: str
) -> tuple[str, Manifest] | None:
    """The template named at ``loc``, or a located problem listing the known ones."""
    name = m.text(loc, required=True)
    if name is None:
        return None
    template = templates.get(name.value)
    if template is None:
        known = ", ".join(sorted(templates)) or "none"
        m.problem(loc, f"names no {what} in the files given (known: {known})")
        return None
    return name.value, template


def raise_problems(problems: list[Problem]) -> None:
    """Raise every collected problem at once, in file and line order."""
    if problems:
        ordered = sorted(problems, key=lambda p: (p.file, p.line or 0, p.col or 0))
        raise ManifestError(ordered)
