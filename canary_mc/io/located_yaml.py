"""YAML in, plain values out, with the line and column of every value.

YAML 1.2 through ruamel.yaml, so ``1e6`` is a number. The parser's event stream is walked
once, before anything is constructed, to

- refuse explicit tags of any kind (``!!python/object``, ``!!binary``, even ``!!int``),
  so no Python object is ever built from a file;
- refuse nesting deeper than :data:`MAX_DEPTH`, aliases that expand to more than
  :data:`MAX_VALUES` values (a "billion laughs" file), and recursive aliases;
- record where every value and mapping key stands. A value reached through an alias is
  placed at the alias; a key brought in by a ``<<`` merge has no place of its own, and
  is reported at the mapping that merges it (the nearest located ancestor).
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import ReusedAnchorWarning
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from canary_mc.errors import ExperimentFileError, Problem

Loc = tuple[str | int, ...]
"""Path of a value in the document: mapping keys and sequence indices."""

KEY = "<key>"
"""Last element of a loc that names the position of a mapping key rather than its value."""

MAX_DEPTH = 32
"""Deepest nesting of mappings and sequences accepted; an experiment needs about 5."""

MAX_VALUES = 10_000
"""Most values a document may hold once its aliases are expanded."""


@dataclass
class LocatedDocument:
    """A parsed YAML document.

    Attributes
    ----------
    document : plain dicts, lists, str, int, float, bool and None
        Dates become their ISO text.
    positions : dict of Loc to (line, col)
        1-based position of every value; ``(*loc, KEY)`` holds that of a mapping key.
    """

    document: Any
    positions: dict[Loc, tuple[int, int]]

    def position(self, loc: Loc) -> tuple[int, int]:
        """Position of ``loc``, or of its nearest located ancestor."""
        return _nearest(self.positions, loc)


def _nearest(positions: dict[Loc, tuple[int, int]], loc: Loc) -> tuple[int, int]:
    while loc not in positions:
        loc = loc[:-1]
    return positions[loc]


def read_located_yaml(text: str, *, file: str) -> LocatedDocument:
    """Parse one YAML document; raise :class:`ExperimentFileError` with every problem."""
    return _read(text, file=file, multi=False)[0]


def read_located_yaml_documents(text: str, *, file: str) -> list[LocatedDocument]:
    """Parse a stream of ``---``-separated YAML documents (a Kubernetes manifest file).

    Each document is located on its own (its locs start at ``()``), with the positions
    of the whole file; empty documents (a trailing ``---``) are dropped. JSON is YAML, so
    a JSON file reads as one document. Raise :class:`ExperimentFileError` with every
    problem.
    """
    return [doc for doc in _read(text, file=file, multi=True) if doc.document is not None]


def _read(text: str, *, file: str, multi: bool) -> list[LocatedDocument]:
    yaml = YAML(typ="rt", pure=True)
    try:
        positions = _walk(yaml.parse(text), file, multi=multi)
        problems: list[Problem] = []
        with warnings.catch_warnings():
            # A redefined anchor is legal YAML (the later one wins); ruamel warns on stderr.
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            loaded = list(yaml.load_all(text)) if multi else [yaml.load(text)]
        documents = []
        for i, node in enumerate(loaded):
            if not multi:
                documents.append(LocatedDocument(_plain(node, (), positions, problems, file),
                                                 positions))  # fmt: skip
                continue
            own = {loc[1:]: at for loc, at in positions.items() if loc[:1] == (i,)}
            own.setdefault((), positions.get((i,), (1, 1)))
            documents.append(LocatedDocument(_plain(node, (), own, problems, file), own))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ExperimentFileError(
            [Problem(file, line, col, "", f"invalid YAML: {message}")]
        ) from None
    except YAMLError as exc:
        raise ExperimentFileError([Problem(file, None, None, "", f"invalid YAML: {exc}")]) from None
    if problems:
        raise ExperimentFileError(problems)
    return documents


@dataclass
class _Open:
    """A mapping or sequence being walked in the event stream."""

    loc: Loc
    is_mapping: bool
    anchor: str | None
    items: int = 0
    key: str | None = None
    key_at: tuple[int, int] = (1, 1)
    size: int = 1
    inner: list[Loc] = field(default_factory=list)  # locs below this one, if anchored


def _walk(events: Iterable[Any], file: str, *, multi: bool = False) -> dict[Loc, tuple[int, int]]:
    """Check the event stream and locate every value; see the module docstring.

    Events are consumed as the parser yields them, so a pathological file is refused at
    its first excess (ruamel's parser slows down quadratically with nesting depth). With
    ``multi``, every loc starts with the document's 0-based index in the stream.
    """
    tagged: list[Problem] = []
    positions: dict[Loc, tuple[int, int]] = {(): (1, 1)}
    anchored: dict[str, tuple[int, list[Loc]]] = {}  # anchor -> (expanded size, inner locs)
    open_: list[_Open] = []
    total = 0
    root: Loc = ()
    n_documents = 0

    def place(loc: Loc, where: tuple[int, int]) -> None:
        positions[loc] = where
        for frame in open_:
            if frame.anchor is not None:
                frame.inner.append(loc[len(frame.loc) :])

    for event in events:
        if multi and isinstance(event, DocumentStartEvent):
            root, n_documents = (n_documents,), n_documents + 1
            positions[root] = (event.start_mark.line + 1, event.start_mark.column + 1)
            continue
        if getattr(event, "tag", None):
            tagged.append(
                _problem_at(event, file, f"YAML tags are not allowed, got {_short_tag(event.tag)}")
            )
        if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            done = open_.pop()
            if done.anchor is not None:
                anchored[done.anchor] = (done.size, done.inner)
            if open_:
                open_[-1].size += done.size
            continue
        if not isinstance(event, (ScalarEvent, AliasEvent, MappingStartEvent, SequenceStartEvent)):
            continue
        where = (event.start_mark.line + 1, event.start_mark.column + 1)
        starts = isinstance(event, (MappingStartEvent, SequenceStartEvent))
        if open_ and open_[-1].is_mapping and open_[-1].key is None:
            parent = open_[-1]
            if starts or isinstance(event, AliasEvent):
                raise ExperimentFileError(
                    [_problem_at(event, file, "mapping keys must be plain text")]
                )
            parent.key, parent.key_at = str(event.value), where
            positions[(*parent.loc, parent.key, KEY)] = where
            continue
        if not open_:
            loc: Loc = root
        elif open_[-1].is_mapping:
            parent = open_[-1]
            loc, parent.key = (*parent.loc, parent.key), None
            if isinstance(event, ScalarEvent) and event.value == "" and event.style is None:
                where = parent.key_at  # an empty value: the parser's mark is the next token
        else:
            loc = (*open_[-1].loc, open_[-1].items)
            open_[-1].items += 1

        if isinstance(event, AliasEvent):
            if event.anchor not in anchored:  # undefined aliases are the parser's to report
                if any(frame.anchor == event.anchor for frame in open_):
                    raise ExperimentFileError(
                        [_problem_at(event, file, f"recursive alias *{event.anchor}")]
                    )
                continue
            size, inner = anchored[event.anchor]
            place(loc, where)
            for rel in inner:
                place((*loc, *rel), where)
        else:
            place(loc, where)
            size = 1
            if isinstance(event, ScalarEvent) and event.anchor:
                anchored[event.anchor] = (1, [])
        if starts:
            if len(open_) >= MAX_DEPTH:
                raise ExperimentFileError(
                    [
                        _problem_at(
                            event, file, f"invalid YAML: nested more than {MAX_DEPTH} levels deep"
                        )
                    ]
                )
            open_.append(_Open(loc, isinstance(event, MappingStartEvent), event.anchor or None))
            continue
        total += size
        if open_:
            open_[-1].size += size
        if total > MAX_VALUES:
            raise ExperimentFileError(
                [_problem_at(event, file, f"aliases expand to more than {MAX_VALUES:,} values")]
            )
    if tagged:
        raise ExperimentFileError(tagged)
    return positions


def _problem_at(event: Any, file: str, message: str) -> Problem:
    return Problem(file, event.start_mark.line + 1, event.start_mark.column + 1, "", message)


def _short_tag(tag: Any) -> str:
    text = str(getattr(tag, "value", tag))
    return "!!" + text.removeprefix("tag:yaml.org,2002:") if text.startswith("tag:") else text


def _plain(
    node: Any, loc: Loc, positions: dict[Loc, tuple[int, int]], problems: list[Problem], file: str
) -> Any:
    """ruamel's round-trip values as plain dicts, lists and built-in scalars."""
    if isinstance(node, CommentedMap):
        result = {}
        for key, value in node.items():
            if not isinstance(key, str):
                line, col = _nearest(positions, loc)
                problems.append(
                    Problem(file, line, col, dotted(loc),
                            f"mapping keys must be text, got {spelled(key)}; quote it")
                )  # fmt: skip
                continue
            result[key] = _plain(value, (*loc, key), positions, problems, file)
        return result
    if isinstance(node, CommentedSeq):
        return [_plain(value, (*loc, i), positions, problems, file) for i, value in enumerate(node)]
    if isinstance(node, datetime.date):
        return node.isoformat()
    # ruamel's scalar subclasses (ScalarFloat, ScalarInt, ...) become plain built-ins.
    for plain in (bool, int, float, str):
        if isinstance(node, plain):
            return plain(node)
    return node


def dotted(loc: Loc) -> str:
    """``("policy", "stages", 1, "name")`` as ``policy.stages[1].name``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def spelled(value: Any) -> str:
    """A scalar as YAML spells it: ``true``, ``null``, ``1.5``, ``'text'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value)
