"""The import layering of ``docs/ARCHITECTURE.md``, checked by walking every import.

Run by ``make lint`` (and the test suite). A module may import only modules of its own
layer or of a lower one, and no two modules may import each other, even through others.
Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and are skipped.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "canary_mc"

LAYERS: list[tuple[str, ...]] = [
    ("canary_mc", "canary_mc.errors", "canary_mc.heap"),  # the root holds __version__
    ("canary_mc.model",),
    ("canary_mc.stats",),
    ("canary_mc.engine.core",),
    ("canary_mc.engine.noise",),
    ("canary_mc.engine.rules",),
    ("canary_mc.engine",),
    ("canary_mc.io", "canary_mc.reference", "canary_mc.reference_rules"),
    ("canary_mc.sweep", "canary_mc.compare"),
    ("canary_mc.report", "canary_mc.bench"),
    ("canary_mc.cli", "canary_mc.__main__"),
]
"""Lowest first. A module belongs to the layer of its longest matching prefix."""


def layer_of(module: str) -> int:
    best, layer = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            # The root is a layer of its own module only, not a prefix of every module.
            under = prefix != "canary_mc" and module.startswith(prefix + ".")
            if (module == prefix or under) and len(prefix) > best:
                best, layer = len(prefix), i
    return layer


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Package modules imported by a file, outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("canary_mc"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if module_exists(candidate) else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("canary_mc"))
    return found


def module_exists(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_layer():
    assert [m for m in graph() if layer_of(m) < 0] == []


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{source} (layer {layer_of(source)}) imports {target} (layer {layer_of(target)})"
        for source, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(source)
    ]
    assert upward == []


def test_no_import_cycles():
    edges = graph()
    # Importing a package runs its __init__, so a module importing its own package's
    # __init__ is not a cycle unless the __init__ imports it back.
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if target not in edges:
                continue
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_every_rule_kind_is_registered_with_a_model_and_a_reference():
    import importlib

    from canary_mc.engine.rules.registry import RULES
    from canary_mc.model.rules import RULE_KINDS

    assert tuple(RULES) == RULE_KINDS
    for kind, entry in RULES.items():
        assert entry.model.model_fields["kind"].annotation.__args__ == (kind,)
        module, _, name = entry.reference.partition(":")
        assert callable(getattr(importlib.import_module(module), name))
        if entry.schedule in ("fixed", "held"):
            assert entry.gaussian is not None
        if entry.schedule == "fixed":
            assert entry.counts is not None
