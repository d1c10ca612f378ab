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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from canary_mc.errors import ExperimentFileError, Problem
from canary_mc.io.grid import GridPoint, PathError, assign, expand, resolve_path
from canary_mc.io.located_yaml import KEY, Loc, LocatedDocument, dotted, read_located_yaml, spelled
from canary_mc.model import Experiment
from canary_mc.model.caveats import experiment_caveats
from canary_mc.model.experiment import onset_stage_problem
from canary_mc.model.policy import repeated_stage_names
from canary_mc.model.rules import RULE_KINDS
from canary_mc.model.sweep import AXIS_TAGS, Sweep, axis_values


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
    return load_experiment_with_caveats(path)[0]


def load_experiment_with_caveats(path: str | Path) -> tuple[Experiment, tuple[Problem, ...]]:
    """Read and validate one experiment file, and locate its caveats.

    Returns
    -------
    experiment : Experiment
    caveats : tuple of Problem
        Every :class:`~canary_mc.model.caveats.Caveat` of the experiment, located in the
        file as ``file:line:col`` (warnings: the experiment is valid).

    Raises
    ------
    ExperimentFileError
        As :func:`load_experiment`.
    """
    path_text, text = _read(Path(path))
    experiment, located = _parse(text, path_text, Path(path).stem)
    return experiment, located_caveats(experiment, path_text, located)


def located_caveats(
    experiment: Experiment, file: str, located: LocatedDocument
) -> tuple[Problem, ...]:
    """The experiment's caveats as problems located in ``file`` (see :class:`Problem`)."""
    return tuple(
        _problem(file, caveat.loc, caveat.message, "caveat", located)
        for caveat in experiment_caveats(experiment)
    )


def parse_experiment(
    text: str, *, file: str = "<string>", default_name: str = "experiment"
) -> Experiment:
    """Validate experiment-file text; see :func:`load_experiment`."""
    return _parse(text, file, default_name)[0]


def _parse(text: str, file: str, default_name: str) -> tuple[Experiment, LocatedDocument]:
    located = read_located_yaml(text, file=file)
    document = located.document
    if not isinstance(document, dict):
        raise ExperimentFileError(
            [Problem(file, 1, 1, "", f"must be a mapping of keys to values, got {_kind(document)}")]
        )
    document.setdefault("name", default_name)
    problems: dict[Loc, Problem] = {}
    try:
        experiment = Experiment.model_validate(document)
    except ValidationError as exc:
        problems = _located_problems(exc, file, located)
        for loc, message in _cross_field_problems(document):
            if loc not in problems:
                problems[loc] = _problem(file, loc, message, "value_error", located)
    for loc, message in _sweep_path_problems(document):
        problems.setdefault(loc, _problem(file, loc, message, "path_error", located))
    if problems:
        raise ExperimentFileError(_ordered(problems)) from None
    return experiment, located


def _located_problems(
    exc: ValidationError, file: str, located: LocatedDocument
) -> dict[Loc, Problem]:
    problems = {}
    for error in exc.errors():
        tagged, loc = _error_locs(error)
        message = _message(error, tagged)
        if error["type"] == NOISE_MODEL_ERROR:
            loc, message = _noise_model_problem(error.get("input"), loc)
        problems[loc] = _problem(file, loc, message, error["type"], located)
    return problems


def _error_locs(error: Any) -> tuple[Loc, Loc]:
    """A pydantic error's location with the sweep-axis tags dropped, and that location
    as the file spells it (union tags dropped too: ``noise.counts.x`` is ``noise.x``)."""
    tagged = tuple(part for part in error["loc"] if part not in AXIS_TAGS)
    return tagged, _untagged(tagged)


def _ordered(problems: dict[Loc, Problem]) -> list[Problem]:
    return sorted(problems.values(), key=lambda p: (p.line or 0, p.col or 0, p.path))


@dataclass(frozen=True)
class SweepFile:
    """A validated experiment file and its sweep, ready to expand into grid points.

    Attributes
    ----------
    path : str
        The file, as given.
    text : str
        Its text, kept verbatim for the results' metadata.
    experiment : Experiment
        The base experiment (every swept parameter at its value in the file).
    n_points : int
        Number of grid points; 1 when the file has no sweep.
    caveats : tuple of Problem
        The base experiment's caveats, located (see :func:`load_experiment_with_caveats`).
    """

    path: str
    text: str
    experiment: Experiment
    n_points: int
    caveats: tuple[Problem, ...]
    _document: dict[str, Any] = field(repr=False)
    _locs: dict[str, Loc] = field(repr=False)
    _located: LocatedDocument = field(repr=False)

    @property
    def axes(self) -> tuple[str, ...]:
        """The swept paths, grid axes first, in file order."""
        sweep = self.experiment.sweep
        return () if sweep is None else sweep.paths

    def points(self) -> Iterator[tuple[GridPoint, Experiment]]:
        """Every grid point with its validated experiment, in expansion order.

        Raises
        ------
        ExperimentFileError
            At the first point whose combination of values breaks a rule that no single
            value breaks (each value alone was checked by :func:`load_sweep_file`).
        """
        for point in expand(self.experiment.sweep):
            values = {self._locs[path]: value for path, value in point.values.items()}
            try:
                yield point, Experiment.model_validate(assign(self._document, values))
            except ValidationError as exc:
                settings = ", ".join(f"{p}={spelled(v)}" for p, v in point.values.items())
                details = "; ".join(
                    f"{dotted(_error_locs(e)[1])}: {_message(e, _error_locs(e)[0])}"
                    for e in exc.errors()
                )
                line, col = self._located.position(("sweep", KEY))
                raise ExperimentFileError(
                    [
                        Problem(
                            self.path,
                            line,
                            col,
                            "sweep",
                            f"point {point.index} ({settings}): {details}",
                        )
                    ]
                ) from None


def load_sweep_file(path: str | Path) -> SweepFile:
    """Read and validate an experiment file with an optional ``sweep`` section.

    Checks the base experiment, that every swept path names a scalar parameter of the
    file, and every swept value on its own (the base experiment with that one value set).
    Combinations are checked as the points are expanded (:meth:`SweepFile.points`).

    Raises
    ------
    ExperimentFileError
        With every problem found, each located as ``file:line:col``.
    """
    path_text, text = _read(Path(path))
    experiment, located = _parse(text, path_text, Path(path).stem)
    document = {k: v for k, v in located.document.items() if k != "sweep"}
    sweep = experiment.sweep
    if sweep is None:
        caveats = located_caveats(experiment, path_text, located)
        return SweepFile(path_text, text, experiment, 1, caveats, document, {}, located)
    locs = {p: resolve_path(document, p) for p in sweep.paths}
    problems: dict[Loc, Problem] = {}
    for where, message in _overlapping_paths(sweep, locs):
        problems[where] = _problem(path_text, where, message, "", located)
    if problems:  # values of overlapping paths would overwrite each other
        raise ExperimentFileError(_ordered(problems))
    for where, path, value in _each_swept_value(sweep):
        try:
            Experiment.model_validate(assign(document, {locs[path]: value}))
        except ValidationError as exc:
            for error in exc.errors():
                tagged, loc = _error_locs(error)
                message = _message(error, tagged)
                if loc != locs[path]:
                    message = f"sets {dotted(loc)}: {message}"
                problems.setdefault(where, _problem(path_text, where, message, "", located))
    if problems:
        raise ExperimentFileError(_ordered(problems))
    caveats = located_caveats(experiment, path_text, located)
    return SweepFile(path_text, text, experiment, sweep.n_points, caveats, document, locs, located)


def _overlapping_paths(sweep: Sweep, locs: dict[str, Loc]) -> list[tuple[Loc, str]]:
    """Swept paths naming the same parameter, or a section and something inside it.

    Both would be set at every point, one overwriting the other, while the results
    show two different values: refused at the later path.
    """
    found = []
    paths = list(sweep.paths)
    for i, later in enumerate(paths):
        for earlier in paths[:i]:
            a, b = locs[earlier], locs[later]
            if a[: len(b)] == b or b[: len(a)] == a:
                where = (
                    ("sweep", "grid", later, KEY)
                    if later in sweep.grid
                    else ("sweep", "zip", 0, later, KEY)
                )
                what = "the same parameter as" if a == b else "a section overlapping"
                found.append((where, f"sets {what} {earlier!r}; sweep each parameter once"))
                break
    return found


def _each_swept_value(sweep: Sweep) -> Iterator[tuple[Loc, str, Any]]:
    for path, spec in sweep.grid.items():
        for i, value in enumerate(axis_values(spec)):
            yield (
                (("sweep", "grid", path, i) if isinstance(spec, list) else ("sweep", "grid", path)),
                path,
                value,
            )
    for r, row in enumerate(sweep.zip):
        for path, value in row.items():
            yield ("sweep", "zip", r, path), path, value


def _sweep_path_problems(document: dict[str, Any]) -> list[tuple[Loc, str]]:
    """Sweep paths that name no scalar parameter of the raw file."""
    sweep = document.get("sweep")
    if not isinstance(sweep, dict):
        return []
    found = []
    grid = sweep.get("grid")
    for path in grid if isinstance(grid, dict) else ():
        message = _path_problem(document, path)
        if message:
            found.append((("sweep", "grid", path, KEY), message))
    rows = sweep.get("zip")
    for r, row in enumerate(rows if isinstance(rows, list) else ()):
        for path in row if isinstance(row, dict) else ():
            message = _path_problem(document, path)
            if message:
                found.append((("sweep", "zip", r, path, KEY), message))
    return found


def _path_problem(document: dict[str, Any], path: Any) -> str | None:
    if not isinstance(path, str):
        return None
    try:
        loc = resolve_path(document, path)
    except PathError as exc:
        return str(exc)
    probe = assign({k: v for k, v in document.items() if k != "sweep"}, {loc: _PROBE})
    try:
        Experiment.model_validate(probe)
    except ValidationError as exc:
        for error in exc.errors():
            if _error_locs(error)[1] == loc and error["type"] == "extra_forbidden":
                parent = ".".join(str(p) for p in loc[:-1]) or "the file"
                allowed = _allowed_keys(loc[:-1])
                hint = f" (parameters: {', '.join(allowed)})" if allowed else ""
                return f"is not a parameter: {parent} has no {loc[-1]!r}{hint}"
    return None


_PROBE = object()
"""A value no field accepts: validating it shows whether the path is a field at all."""


def _read(path: Path) -> tuple[str, str]:
    try:
        return str(path), path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentFileError([Problem(str(path), None, None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentFileError(
            [Problem(str(path), None, None, "", f"cannot read file: {exc}")]
        ) from None


NOISE_MODEL_ERROR = "noise_model"
"""Error type of the noise union's discriminator (``canary_mc.model.world.Noise``)."""

NOISE_MODELS = ("gaussian", "counts")


def _untagged(loc: Loc) -> Loc:
    """Drop the union tags pydantic puts in a location, as the file spells it:
    ``noise.counts.x`` is ``noise.x`` and ``policy.rule.ztest.alpha`` is ``policy.rule.alpha``."""
    if len(loc) >= 2 and loc[0] == "noise" and loc[1] in NOISE_MODELS:
        loc = (loc[0], *loc[2:])
    return tuple(
        part
        for i, part in enumerate(loc)
        if not (i > 0 and loc[i - 1] == "rule" and part in RULE_KINDS)
    )


def _noise_model_problem(value: Any, loc: Loc) -> tuple[Loc, str]:
    if isinstance(value, dict):
        models = ", ".join(repr(m) for m in NOISE_MODELS)
        return (*loc, "model"), f"must be one of {models}, got {_kind(value.get('model'))}"
    return loc, f"must be a mapping, got {_kind(value)}"


def _cross_field_problems(document: dict[str, Any]) -> list[tuple[Loc, str]]:
    """The models' cross-field rules, applied to whatever parts of the raw file are usable."""
    found: list[tuple[Loc, str]] = []
    noise, service = document.get("noise"), document.get("service")
    if (
        isinstance(noise, dict)
        and noise.get("model") == "counts"
        and isinstance(service, dict)
        and "requests_per_step" not in service
        and "requests_per_second" not in service
    ):
        found.append(
            (
                ("service", "requests_per_step"),
                "required by noise.model: counts (or requests_per_second)",
            )
        )
    policy = document.get("policy")
    stages = policy.get("stages") if isinstance(policy, dict) else None
    if not isinstance(stages, list):
        return found
    names = [stage.get("name") if isinstance(stage, dict) else None for stage in stages]
    found += [
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


def _problem(file: str, loc: Loc, message: str, kind: str, located: LocatedDocument) -> Problem:
    if kind == "extra_forbidden" and (*loc, KEY) in located.positions:
        line, col = located.positions[(*loc, KEY)]
    else:
        line, col = located.position(loc)
    return Problem(file, line, col, dotted(loc[:-1] if loc[-1:] == (KEY,) else loc), message)


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
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        # A tagged union: the rules (tag ``kind``) or the noise models (tag ``model``);
        # ``part`` is the tag, naming the member.
        for member in map(_unwrap, typing.get_args(annotation)):
            if not _is_model(member):
                continue
            tag = member.model_fields.get("kind") or member.model_fields.get("model")
            if tag is not None and part in typing.get_args(tag.annotation):
                return member
        return None
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
