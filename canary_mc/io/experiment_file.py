"""Read experiment files: YAML in, a frozen :class:`Experiment` or every problem out.

This is the edge where user input is validated. :mod:`canary_mc.io.located_yaml` parses
the file and locates every value; pydantic validates; each error is reported at the line
and column of what it is about, as ``file:line:col: field.path: message``.

Pydantic runs cross-field rules (unique stage names, ``onset_stage`` references) only
once every field is valid. So that one run reports every problem, those rules are also
run here on the raw document when field errors were found, through the same functions
the models use.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from canary_mc.errors import ExperimentFileError, Problem
from canary_mc.io.located_yaml import KEY, Loc, LocatedDocument, dotted, read_located_yaml, spelled
from canary_mc.model import Experiment
from canary_mc.model.experiment import onset_stage_problem
from canary_mc.model.policy import repeated_stage_names
from canary_mc.model.rules import RULE_KINDS


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
    located = read_located_yaml(text, file=file)
    document = located.document
    if not isinstance(document, dict):
        raise ExperimentFileError(
            [Problem(file, 1, 1, "", f"must be a mapping of keys to values, got {_kind(document)}")]
        )
    document.setdefault("name", default_name)
    try:
        return Experiment.model_validate(document)
    except ValidationError as exc:
        problems = {}
        for error in exc.errors():
            tagged = tuple(error["loc"])
            loc = _untagged(tagged)
            problems[loc] = _problem(file, loc, _message(error, tagged), error["type"], located)
        for loc, message in _cross_field_problems(document):
            if loc not in problems:
                problems[loc] = _problem(file, loc, message, "value_error", located)
        ordered = sorted(problems.values(), key=lambda p: (p.line or 0, p.col or 0, p.path))
        raise ExperimentFileError(ordered) from None


def _cross_field_problems(document: dict[str, Any]) -> list[tuple[Loc, str]]:
    """The models' cross-field rules, applied to whatever parts of the raw file are usable."""
    policy = document.get("policy")
    stages = policy.get("stages") if isinstance(policy, dict) else None
    if not isinstance(stages, list):
        return []
    names = [stage.get("name") if isinstance(stage, dict) else None for stage in stages]
    found = [
        (("policy", "stages", i, "name"), message) for i, message in repeated_stage_names(names)
    ]
    scenarios = document.get("scenarios")
    if all(isinstance(name, str) for name in names) and isinstance(scenarios, dict):
        for scenario_name, scenario in scenarios.items():
            ref = scenario.get("onset_stage") if isinstance(scenario, dict) else None
            if isinstance(ref, str) or (isinstance(ref, int) and not isinstance(ref, bool)):
                message = onset_stage_problem(ref, names)
                if message is not None:
                    found.append((("scenarios", scenario_name, "onset_stage"), message))
    return found


def _untagged(loc: Loc) -> Loc:
    """Drop the tag pydantic puts after a discriminated union (``policy.rule.ztest.alpha``
    is ``policy.rule.alpha`` in the file)."""
    return tuple(
        part
        for i, part in enumerate(loc)
        if not (i > 0 and loc[i - 1] == "rule" and part in RULE_KINDS)
    )


def _problem(file: str, loc: Loc, message: str, kind: str, located: LocatedDocument) -> Problem:
    if kind == "extra_forbidden" and (*loc, KEY) in located.positions:
        line, col = located.positions[(*loc, KEY)]
    else:
        line, col = located.position(loc)
    return Problem(file, line, col, dotted(loc), message)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = spelled(value)
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
    if kind == "union_tag_invalid":
        return f"kind must be one of {ctx['expected_tags']}, got {ctx['tag']!r}"
    if kind == "union_tag_not_found":
        return f"must have a 'kind' ({', '.join(RULE_KINDS)})"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s), got {ctx['actual_length']}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("int_parsing", "int_parsing_size", "int_type", "int_from_float"):
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
    if kind in ("model_type", "model_attributes_type", "dict_type") and loc[-1:] == ("rule",):
        return (
            f"must be a rule kind ({', '.join(RULE_KINDS)}) or a mapping with a 'kind', got {got}"
        )
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
    members = typing.get_args(_unwrap(annotation))
    if members and all(_is_model(m) and "kind" in m.model_fields for m in members):
        # A discriminated union, and ``part`` is its tag: the member of that kind.
        return next(
            (m for m in members if part in typing.get_args(m.model_fields["kind"].annotation)),
            None,
        )
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
