"""Read experiment files: safe YAML in, a frozen :class:`Experiment` or every problem out.

This is the edge where user input is validated. YAML is parsed with ruamel.yaml's
round-trip loader, which follows YAML 1.2 (so ``1e6`` is a number) and remembers where
every key and value stands; any explicit tag is refused before construction, so no
Python object is built from the file. Each
pydantic error is then reported at the line and column of what it is about, as
``file:line:col: field.path: message``.
"""

from __future__ import annotations

import datetime
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from canary_mc.errors import ExperimentFileError, Problem
from canary_mc.model import Experiment

Loc = tuple[str | int, ...]


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate one experiment file.

    Parameters
    ----------
    path : str or Path
        The YAML file. Its stem is the experiment's default ``name``.

    Returns
    -------
    Experiment

    Raises
    ------
    ExperimentFileError
        With every problem found, each located as ``file:line:col``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentFileError([Problem(str(path), None, None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentFileError(
            [Problem(str(path), None, None, "", f"cannot read file: {exc}")]
        ) from None
    return parse_experiment(text, file=str(path), default_name=path.stem)


def parse_experiment(
    text: str, *, file: str = "<string>", default_name: str = "experiment"
) -> Experiment:
    """Validate experiment-file text; see :func:`load_experiment`."""
    document, positions = read_yaml(text, file=file)
    if not isinstance(document, dict):
        raise ExperimentFileError(
            [Problem(file, 1, 1, "", f"must be a mapping of keys to values, got {_kind(document)}")]
        )
    document.setdefault("name", default_name)
    try:
        return Experiment.model_validate(document)
    except ValidationError as exc:
        problems = [_problem(file, error, positions) for error in exc.errors()]
        problems.sort(key=lambda p: (p.line or 0, p.col or 0, p.path))
        raise ExperimentFileError(problems) from None


def read_yaml(text: str, *, file: str) -> tuple[Any, dict[Loc, tuple[int, int]]]:
    """Parse YAML into plain Python values and a map of where each one stands.

    Explicit tags (``!!python/object``, ``!!binary``, ``!custom``, even ``!!int``) are
    refused before anything is constructed. Anchors, aliases and merge keys work; a value
    reached through an alias is reported at the alias, a key brought in by a ``<<``
    merge at the mapping that merges it.

    Returns
    -------
    document : plain dicts, lists, str, int, float, bool and None
        Dates become their ISO text.
    positions : dict of loc to (line, col)
        1-based position of every value; for a mapping key, ``loc + ("<key>",)`` holds
        the position of the key itself.
    """
    yaml = YAML(typ="rt", pure=True)
    try:
        events = list(yaml.parse(text))
        tagged = [
            Problem(
                file,
                event.start_mark.line + 1,
                event.start_mark.column + 1,
                "",
                f"YAML tags are not allowed, got {_short_tag(event.tag)}",
            )
            for event in events
            if getattr(event, "tag", None)
        ]
        if tagged:
            raise ExperimentFileError(tagged)
        _check_depth(events, file)
        document = _plain(yaml.load(text))
        positions = _positions(events)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ExperimentFileError(
            [
                Problem(
                    file,
                    mark.line + 1 if mark else None,
                    mark.column + 1 if mark else None,
                    "",
                    f"invalid YAML: {message}",
                )
            ]
        ) from None
    except YAMLError as exc:
        raise ExperimentFileError([Problem(file, None, None, "", f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise ExperimentFileError(
            [Problem(file, None, None, "", "invalid YAML: nested too deeply")]
        ) from None
    return document, positions


MAX_DEPTH = 32
"""Deepest nesting of mappings and sequences accepted; an experiment needs about 5."""


def _check_depth(events: list[Any], file: str) -> None:
    depth = 0
    for event in events:
        if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise ExperimentFileError(
                    [
                        Problem(
                            file,
                            mark.line + 1,
                            mark.column + 1,
                            "",
                            f"invalid YAML: nested more than {MAX_DEPTH} levels deep",
                        )
                    ]
                )
        elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            depth -= 1


def _short_tag(tag: Any) -> str:
    text = str(getattr(tag, "value", tag))
    return "!!" + text.removeprefix("tag:yaml.org,2002:") if text.startswith("tag:") else text


def _plain(node: Any) -> Any:
    """ruamel's round-trip values as plain dicts, lists and built-in scalars."""
    if isinstance(node, CommentedMap):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(value) for value in node]
    if isinstance(node, datetime.date):
        return node.isoformat()
    # ruamel's scalar subclasses (ScalarFloat, ScalarInt, ...) become plain built-ins.
    for plain in (bool, int, float, str):
        if isinstance(node, plain):
            return plain(node)
    return node


@dataclass
class _Open:
    """A mapping or sequence being walked in the event stream."""

    loc: Loc
    is_mapping: bool
    items: int = 0
    key: str | None = None


def _positions(events: list[Any]) -> dict[Loc, tuple[int, int]]:
    """Where every value (and mapping key) stands, from the parser's event stream.

    Walking events rather than the loaded tree gives aliases their own position: the
    values inside an aliased node are placed at the alias that brought them in.
    """
    positions: dict[Loc, tuple[int, int]] = {(): (1, 1)}
    anchored: dict[str, Loc] = {}
    open_: list[_Open] = []
    for event in events:
        if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            open_.pop()
            continue
        if not isinstance(event, (ScalarEvent, AliasEvent, MappingStartEvent, SequenceStartEvent)):
            continue
        where = (event.start_mark.line + 1, event.start_mark.column + 1)
        if not open_:
            loc: Loc = ()
        elif open_[-1].is_mapping and open_[-1].key is None:
            key = str(getattr(event, "value", None))
            open_[-1].key = key
            positions[(*open_[-1].loc, key, "<key>")] = where
            if not isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                continue
            open_.append(_Open((), isinstance(event, MappingStartEvent)))  # complex key
            continue
        elif open_[-1].is_mapping:
            loc, open_[-1].key = (*open_[-1].loc, open_[-1].key), None
        else:
            loc = (*open_[-1].loc, open_[-1].items)
            open_[-1].items += 1
        positions[loc] = where
        if getattr(event, "anchor", None) and not isinstance(event, AliasEvent):
            anchored[event.anchor] = loc
        if isinstance(event, AliasEvent) and event.anchor in anchored:
            source = anchored[event.anchor]
            inner = [p for p in positions if p[: len(source)] == source and len(p) > len(source)]
            for p in inner:
                positions[(*loc, *p[len(source) :])] = where
        if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            open_.append(_Open(loc, isinstance(event, MappingStartEvent)))
    return positions


def _problem(file: str, error: Any, positions: dict[Loc, tuple[int, int]]) -> Problem:
    loc: Loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden" and (*loc, "<key>") in positions:
        line, col = positions[(*loc, "<key>")]
    else:
        known = loc
        while known not in positions:
            known = known[:-1]
        line, col = positions[known]
    return Problem(file, line, col, _dotted(loc), _message(error, loc))


def _dotted(loc: Loc) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _message(error: Any, loc: Loc) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = _kind(error.get("input"))
    bounds = {
        "greater_than": ("greater than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {_number(ctx[key])}, got {got}"
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {loc[-1]!r}{hint}"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s), got {ctx['actual_length']}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, got {got}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number, got {got}"
    if kind == "finite_number":
        return f"must be a finite number, got {got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {got}"
    if kind == "string_type":
        return f"must be a string, got {got}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping, got {got}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, got {got}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{error['msg']}, got {got}"


def _allowed_keys(loc: Loc) -> list[str]:
    """Field names of the model found at ``loc`` of an :class:`Experiment`, if any."""
    target: Any = Experiment
    for part in loc:
        target = _child_type(target, part)
        if target is None:
            return []
    return list(target.model_fields) if _is_model(target) else []


def _child_type(annotation: Any, part: str | int) -> Any:
    if _is_model(annotation):
        field = annotation.model_fields.get(str(part))
        return None if field is None else _unwrap(field.annotation)
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is tuple and args:
        return _unwrap(args[0])
    if origin is dict and len(args) == 2:
        return _unwrap(args[1])
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Optional``/``Annotated`` so the model class, if any, is exposed."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
