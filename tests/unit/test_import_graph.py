"""The four packages import one another without cycles.

Every import counts, including those inside functions (kept there so a command or a dataset loads
only what it needs): a lazy import still makes two modules depend on each other. Imports under
`if TYPE_CHECKING:` are only for the type checker and do not count.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGES = ("sidecar", "connectors", "accelerators", "policies")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(tree: ast.Module, package: str, known: Collection[str]) -> Iterator[str]:
    """The modules a module imports: `from x import y` is x.y when that is a module, else x."""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending += node.orelse
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
        else:
            pending += ast.iter_child_nodes(node)


def graph() -> dict[str, set[str]]:
    known = modules()
    edges = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set(imported(ast.parse(path.read_text()), package, known))
        edges[name] = {target for target in targets if target in known and target != name}
    return edges


def test_the_packages_have_no_import_cycle() -> None:
    try:
        tuple(graphlib.TopologicalSorter(graph()).static_order())
    except graphlib.CycleError as error:
        cycle = " -> ".join(error.args[1])
        pytest.fail(f"import cycle: {cycle}; move what both need into a module of its own")


def test_the_walk_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from sidecar.cli import main\n"
        "def later():\n    from sidecar.servers.flight import commands\n"
    )
    assert set(imported(tree, "sidecar", modules())) == {
        "typing",
        "sidecar.servers.flight.commands",
    }
