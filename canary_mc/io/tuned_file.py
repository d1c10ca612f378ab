"""The tuned experiment file: the original text with the tuned values set, commented.

Round-trip YAML (ruamel) keeps the file's comments, order and flow style; the tuned
knobs are set at their sweep paths, the ``sweep`` section is dropped (it would override
them), and a header states the tuning's provenance.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML

from canary_mc.io.grid import Loc


def tuned_text(text: str, values: Mapping[Loc, Any], provenance: Sequence[str]) -> str:
    """``text`` with each location set to its value, without ``sweep``, headed by
    ``provenance`` as comment lines.

    Parameters
    ----------
    text : str
        The experiment file as written (already validated).
    values : mapping of location to scalar
        From :func:`canary_mc.io.grid.resolve_path`.
    provenance : sequence of str
        One comment line each (without ``#``).
    """
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 100
    document = yaml.load(text)
    for loc, value in values.items():
        node: Any = document
        for part in loc[:-1]:
            node = node[part]
        node[loc[-1]] = value
    if "sweep" in document:
        del document["sweep"]
    out = io.StringIO()
    yaml.dump(document, out)
    header = "".join(f"# {line}\n".replace("# \n", "#\n") for line in provenance)
    return header + out.getvalue()
