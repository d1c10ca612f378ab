"""The experiment document an import writes: a policy with its sources, and assumptions.

A translator builds the policy as plain values and records, for any path in the
document, the comment to print beside it (``file:line`` of the source). The service,
noise and scenarios are either the user's (``--service FILE``) or clearly marked
assumptions. :func:`render` writes commented YAML with ruamel.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from canary_mc.manifests.source import Assumption, Cite

Path = tuple[str | int, ...]

ASSUMED = (
    "ASSUMPTION: not in the manifest; replace with your service's figures or use --service FILE"
)


@dataclass
class Draft:
    """An experiment document being written, with a comment per path.

    Attributes
    ----------
    document : dict
        Plain values, in the experiment file's layout.
    comments : dict of Path to str
        End-of-line comments (the source ``file:line`` and field, or an assumption).
    notes : list of Assumption
        What is not modelled, each as ``file:line: field: what canary-mc assumes``.
    """

    document: dict[str, Any] = field(default_factory=dict)
    comments: dict[Path, str] = field(default_factory=dict)
    notes: list[Assumption] = field(default_factory=list)
    latency_stat: str | None = None  # the latency statistic the noise model must draw

    def cite(self, path: Path, cite: Cite, field_name: str) -> None:
        """Record that the value at ``path`` came from ``field_name`` at ``cite``."""
        text = f"{cite}: {field_name}"
        old = self.comments.get(path)
        self.comments[path] = text if old is None or text in old else f"{old}; {text}"

    def note(self, cite: Cite, field_name: str, text: str) -> None:
        note = Assumption(cite, field_name, text)
        if note not in self.notes:
            self.notes.append(note)


def default_world(
    metrics: Sequence[Mapping[str, Any]], *, matched_baseline: bool, latency_stat: str | None = None
) -> dict[str, Any]:
    """Service, noise and scenarios to start from when the user gave none (assumptions).

    A healthy release and, per signal the policy reads, a regression a user would want
    caught: one more point of errors, +100 ms of latency, +3 sigma of a gauge.
    """
    service: dict[str, Any] = {
        "error_rate": 0.002,
        "latency_ms": 120,
        "requests_per_second": 20,
        "baseline": "matched" if matched_baseline else "rest",
    }
    gauges = {m["name"]: {"mean": 50, "sigma": 5} for m in metrics if m["kind"] == "gauge"}
    if gauges:
        service["gauges"] = gauges
    scenarios: dict[str, Any] = {"healthy": {}}
    seen: set[str] = set()
    for m in metrics:
        signal = "rate" if m["kind"] in ("error_rate", "success_rate") else m["name"]
        if m["kind"] == "latency":
            signal = "latency"
        if signal in seen:
            continue
        seen.add(signal)
        if signal == "rate":
            scenarios["error-regression"] = {"faults": {m["name"]: {"error_delta": 0.01}}}
        elif signal == "latency":
            scenarios["latency-regression"] = {"faults": {m["name"]: {"latency_delta_ms": 100}}}
        else:
            scenarios[f"{m['name']}-regression"] = {"faults": {m["name"]: {"delta": 15}}}
    noise: dict[str, Any] = {"model": "counts", "latency_log_sigma": 0.5}
    if latency_stat is not None:
        noise["latency_metric"] = latency_stat
    return {
        "service": service,
        "noise": noise,
        "scenarios": scenarios,
    }


def _commented(value: Any, path: Path, comments: Mapping[Path, str]) -> Any:
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _commented(item, (*path, key), comments)
            comment = comments.get((*path, key))
            if comment is not None:
                out.yaml_add_eol_comment(comment, key)
        if (
            value
            and all(not isinstance(v, Mapping | list) for v in value.values())
            and len(value) <= 2
            and not any((*path, k) in comments for k in value)
        ):
            out.fa.set_flow_style()
        return out
    if isinstance(value, list):
        seq = CommentedSeq()
        for i, item in enumerate(value):
            seq.append(_commented(item, (*path, i), comments))
            comment = comments.get((*path, i))
            if comment is not None:
                seq.yaml_add_eol_comment(comment, i)
        return seq
    return value


def render(draft: Draft, *, header: Sequence[str]) -> str:
    """The draft as commented YAML: a header, the document, then the not-modelled list."""
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(_commented(draft.document, (), draft.comments), buffer)
    lines = [f"# {line}" if line else "#" for line in header]
    if draft.notes:
        lines += ["#", "# Not modelled (file:line: field: what canary-mc assumes instead):"]
        lines += [f"#   {note}" for note in draft.notes]
    return "\n".join(lines) + "\n" + buffer.getvalue()
