"""The package's shape: layers import downwards only, and no module imports itself
back through another.

Read from the source with ``ast``, so a lazy import inside a function counts as
much as one at the top: the rule is about what a module may know, not when.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "loopback_login"

# Lower layers first; a module may import its own layer and those before it.
LAYERS = ["core", "store", "protocol", "loopback", "session", "http", "top"]
CORE = {
    "loopback_login.errors",
    "loopback_login.environment",
    "loopback_login.clock",
    "loopback_login.debuglog",
    "loopback_login.templates",
}
TOP = {
    "loopback_login",
    "loopback_login.api",
    "loopback_login.__main__",
    "loopback_login.ringcentral",
}


def layer_of(module: str) -> str:
    if module in CORE:
        return "core"
    if module in TOP or module.startswith("loopback_login.cli"):
        return "top"
    if module.startswith("loopback_login.emulator"):
        return "emulator"
    return module.split(".")[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every loopback_login module this file imports (``from pkg import mod`` too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("loopback_login")}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import of {node.module}"
            if not node.module.startswith("loopback_login"):
                continue
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                is_module = (
                    PACKAGE.parent / (child.replace(".", "/") + ".py")
                ).exists()
                found.add(child if is_module else node.module)
    return found


GRAPH = {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_is_in_a_known_layer() -> None:
    known = {*LAYERS, "emulator"}
    assert {m: layer_of(m) for m in GRAPH if layer_of(m) not in known} == {}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_import_points_up_a_layer(module: str) -> None:
    here = layer_of(module)
    for target in GRAPH[module]:
        there = layer_of(target)
        if here == "emulator":
            # The emulator is the tests' oracle: it shares the core, nothing else.
            assert there in ("emulator", "core"), f"{module} imports {target}"
        elif there == "emulator":
            assert here == "top", f"{module} imports the emulator ({target})"
        else:
            assert LAYERS.index(there) <= LAYERS.index(here), (
                f"{module} ({here}) imports {target} ({there}), a layer above it"
            )


def test_subpackage_inits_are_empty_but_for_their_rule() -> None:
    """Importing a layer loads nothing: each ``__init__`` holds only its docstring."""
    for init in PACKAGE.glob("*/__init__.py"):
        if init.parent.name == "emulator":
            continue
        body = ast.parse(init.read_text()).body
        assert len(body) == 1, f"{init} holds more than its docstring"
        assert isinstance(body[0], ast.Expr), f"{init} has no docstring"
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "Rule:" in docstring, f"{init} does not state its layer's rule"


def test_no_import_cycle() -> None:
    """Depth-first search for a back edge over every import, lazy ones included."""
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH.get(module, ())):
            if target == module or target not in GRAPH:
                continue
            if state.get(target) == "open":
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_test_modules_import_no_other_test_module() -> None:
    """Shared test tools live in helpers.py (and fixtures in conftest.py): a test
    module that imports another couples their fates and hides where a tool lives."""
    tests = Path(__file__).resolve().parent
    found = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{path.name} imports {name}"
                for name in names
                if name == "conftest" or name.startswith("test_")
            ]
    assert found == []


def test_no_merge_conflict_markers_are_left() -> None:
    """A conflict marker left in a doc or a script is read by people as the truth."""
    root = PACKAGE.parent
    found = []
    for folder in ("loopback_login", "tests", "bench", "docs", "templates", ".ci"):
        for path in sorted((root / folder).rglob("*")):
            if not path.is_file() or path.suffix in (".pyc", ".png"):
                continue
            text = path.read_text(errors="replace")
            found += [
                f"{path.relative_to(root)}:{n}"
                for n, line in enumerate(text.splitlines(), 1)
                if line.startswith(("<<<<<<< ", ">>>>>>> ", "||||||| "))
            ]
    for name in ("README.md", "pyproject.toml"):
        lines = (root / name).read_text().splitlines()
        found += [
            f"{name}:{n}"
            for n, line in enumerate(lines, 1)
            if line.startswith(("<<<<<<< ", ">>>>>>> "))
        ]
    assert found == []
