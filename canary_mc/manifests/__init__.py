"""Bring your own canary: import Argo Rollouts, Flagger and Kayenta policies, export back.

``import_manifests`` reads Kubernetes manifests (multi-document YAML) or a Kayenta canary
config (JSON) into an experiment document; ``export_policy`` writes an experiment's policy
as Argo or Flagger manifests. One module per system (``argo``, ``flagger``, ``kayenta``)
reads its manifests into an intermediate representation whose every value keeps its
``file:line``; ``translate`` maps each IR onto the experiment schema; ``document`` writes
the commented file. ``docs/import.md`` is the field-by-field mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canary_mc.errors import ConfigError, ExperimentFileError, ManifestError, Problem
from canary_mc.io.located_yaml import read_located_yaml, read_located_yaml_documents
from canary_mc.manifests.argo import is_argo, read_argo
from canary_mc.manifests.document import ASSUMED, Draft, default_world, render
from canary_mc.manifests.export import KINDS_ANNOTATION
from canary_mc.manifests.flagger import is_flagger, read_flagger
from canary_mc.manifests.kayenta import is_kayenta, read_kayenta
from canary_mc.manifests.kinds import MetricKind, kinds_from_annotation
from canary_mc.manifests.source import Assumption, Manifest, raise_problems
from canary_mc.manifests.translate import (
    TranslationError,
    argo_policy,
    flagger_policy,
    kayenta_policy,
)

__all__ = ["ImportedExperiment", "import_manifests", "read_world"]

WORLD_SECTIONS = ("service", "noise", "scenarios")

SYSTEM_NAMES = {
    "argo": "an Argo Rollouts Rollout",
    "flagger": "a Flagger Canary",
    "kayenta": "a Kayenta canary config",
}


@dataclass(frozen=True)
class ImportedExperiment:
    """An imported policy as an experiment file.

    Attributes
    ----------
    system : {"argo", "flagger", "kayenta"}
    text : str
        The experiment file: commented YAML citing every translated value's ``file:line``.
    document : dict
        The same document as plain values.
    notes : tuple of Assumption
        What is not modelled, each ``file:line: field: what canary-mc assumes instead``.
    """

    system: str
    text: str
    document: dict[str, Any]
    notes: tuple[Assumption, ...]


def _read_manifests(paths: Sequence[Path], problems: list[Problem]) -> list[Manifest]:
    manifests = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), None, None, "", f"cannot read the file: {exc}"))
            continue
        try:
            documents = read_located_yaml_documents(text, file=str(path))
        except ExperimentFileError as exc:  # bad YAML, tags, alias bombs: located
            problems.extend(exc.problems)
            continue
        for located in documents:
            m = Manifest(str(path), located, problems)
            if not isinstance(m.body, dict):
                m.problem((), "must be a mapping (a Kubernetes object or a Kayenta config)")
                continue
            manifests.append(m)
    return manifests


def _annotated_kinds(manifests: list[Manifest]) -> dict[str, MetricKind]:
    """Metric kinds written by ``canary-mc export`` as an annotation on its templates."""
    kinds: dict[str, MetricKind] = {}
    for m in manifests:
        text = m.text(("metadata", "annotations", KINDS_ANNOTATION))
        if text is None:
            continue
        try:
            kinds.update(kinds_from_annotation(text.value))
        except ConfigError as exc:
            m.problem(("metadata", "annotations", KINDS_ANNOTATION), str(exc))
    return kinds


def import_manifests(
    paths: Sequence[Path],
    *,
    overrides: Mapping[str, MetricKind] | None = None,
    world: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> ImportedExperiment:
    """Read manifests and translate their one canary policy into an experiment document.

    Parameters
    ----------
    paths : sequence of Path
        Kubernetes YAML files (a ``Rollout`` with its ``AnalysisTemplate`` s, or a
        ``Canary`` with its ``MetricTemplate`` s) or one Kayenta canary config (JSON).
    overrides : mapping of str to MetricKind
        ``--metric NAME=KIND``: the kind of a metric, instead of the guess.
    world : mapping, optional
        ``service`` and optionally ``noise`` and ``scenarios`` (``--service FILE``);
        what is missing is filled in as marked assumptions.
    name : str, optional
        The experiment's name; default the policy's name.

    Raises
    ------
    ManifestError
        Every problem, located ``file:line:col: field: message``.
    """
    given = dict(overrides or {})
    problems: list[Problem] = []
    notes: list[Assumption] = []
    manifests = _read_manifests(paths, problems)
    raise_problems(problems)
    overrides = {**_annotated_kinds(manifests), **given}
    argo = [m for m in manifests if is_argo(m)]
    flagger = [m for m in manifests if is_flagger(m)]
    kayenta = [m for m in manifests if is_kayenta(m)]
    for m in manifests:
        if m not in argo and m not in flagger and m not in kayenta:
            notes.append(
                Assumption(m.cite(()), "document", "neither Argo, Flagger nor Kayenta; not read")
            )
    policies: list[tuple[str, Any]] = []
    policies += [("argo", r) for r in read_argo(argo, notes)] if argo else []
    policies += [("flagger", c) for c in read_flagger(flagger, notes)] if flagger else []
    policies += [("kayenta", read_kayenta(m, notes)) for m in kayenta]
    raise_problems(problems)
    if len(policies) != 1:
        found = ", ".join(f"{s} {p.name.value!r} ({p.name.cite})" for s, p in policies) or "none"
        where = str(paths[0]) if paths else "import"
        raise ManifestError(
            [
                Problem(
                    where,
                    None,
                    None,
                    "",
                    f"must hold exactly one canary policy (a Rollout, a Canary or a "
                    f"Kayenta config), found {found}",
                )
            ]
        )
    system, ir = policies[0]
    draft = Draft(notes=notes)
    draft.document["name"] = name or ir.name.value
    draft.cite(("name",), ir.name.cite, ir.name.field)
    draft.document["description"] = (
        f"Imported from {', '.join(str(p) for p in paths)} by canary-mc import."
    )
    draft.document["seed"] = 0
    draft.document["rollouts"] = 20000
    translate = {"argo": argo_policy, "flagger": flagger_policy, "kayenta": kayenta_policy}[system]
    try:
        translate(ir, overrides, draft)
    except TranslationError as exc:
        raise ManifestError(
            [Problem(exc.cite.file, exc.cite.line, exc.cite.col, exc.field_name, str(exc))]
        ) from None
    unused = sorted(set(given) - {m["name"] for m in draft.document["policy"].get("metrics", [])})
    if unused:
        raise ManifestError(
            [
                Problem(
                    str(paths[0]),
                    None,
                    None,
                    "--metric",
                    f"names no metric of the policy: {', '.join(unused)}",
                )
            ]
        )
    assumed = default_world(
        draft.document["policy"]["metrics"],
        matched_baseline=system == "kayenta",
        latency_stat=draft.latency_stat,
    )
    given = dict(world or {})
    for section in ("service", "noise", "scenarios"):
        if section in given:
            draft.document[section] = given[section]
            draft.comments[(section,)] = "from --service"
        else:
            draft.document[section] = assumed[section]
            draft.comments[(section,)] = ASSUMED
    header = [
        f"canary-mc experiment imported from {SYSTEM_NAMES[system]}: {draft.document['name']}.",
        "Comments give each translated value's source as file:line: field.",
        "Sections marked ASSUMPTION are not in the manifests: fill them in, or use --service FILE.",
    ]
    text = render(draft, header=header)
    return ImportedExperiment(system, text, draft.document, tuple(draft.notes))


def read_world(path: Path) -> dict[str, Any]:
    """``--service FILE``: its ``service`` section (required), ``noise`` and ``scenarios``.

    The file may be the fitting command's output or any experiment file; other keys are
    ignored. Raise :class:`ManifestError` (located) when it has no ``service`` mapping.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(
            [Problem(str(path), None, None, "", f"cannot read the file: {exc}")]
        ) from None
    located = read_located_yaml(text, file=str(path))
    body = located.document
    if not isinstance(body, dict) or not isinstance(body.get("service"), dict):
        line, col = located.position(())
        raise ManifestError(
            [
                Problem(
                    str(path),
                    line,
                    col,
                    "service",
                    "--service FILE must have a 'service' mapping (and may have noise, scenarios)",
                )
            ]
        )
    return {key: body[key] for key in WORLD_SECTIONS if key in body}
