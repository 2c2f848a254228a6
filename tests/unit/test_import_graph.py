"""The four packages import one another without cycles, and nothing private of another module.

Every import counts, including those inside functions (kept there so a command or a dataset loads
only what it needs): a lazy import still makes two modules depend on each other. Imports under
`if TYPE_CHECKING:` are only for the type checker and do not count.

A name with a leading underscore is its module's own business: what another module needs is
made public in one place (as `connectors.naming`, `connectors.batches`, `connectors.drivers`),
and a third-party package is used through its public API only, so an upgrade cannot break it
silently.
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


# Names with a leading underscore that their library documents as public API.
DOCUMENTED = frozenset({"os._exit"})


def private_uses(tree: ast.Module) -> Iterator[str]:
    """`from x import _y`, `import x._y`, `x._y` and `getattr(x, "_y")` on an imported module."""
    modules = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if any(_private(part) for part in alias.name.split(".")):
                    yield f"import {alias.name}"
                modules[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = "." * node.level + (node.module or "")
            if any(_private(part) for part in (node.module or "").split(".")):
                yield f"from {source} import ..."
            for alias in node.names:
                if _private(alias.name):
                    yield f"from {source} import {alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in modules:
                name = f"{modules[node.value.id]}.{node.attr}"
                if name not in DOCUMENTED:
                    yield name
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "getattr":
            target, name = [*node.args, None, None][:2]
            if (
                isinstance(target, ast.Name)
                and target.id in modules
                and isinstance(name, ast.Constant)
                and _private(str(name.value))
            ):
                yield f'getattr({modules[target.id]}, "{name.value}")'


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_uses_a_private_name_of_another() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {use}"
        for path in modules().values()
        if not path.name.endswith("_pb2.py")  # protoc's generated code
        for use in private_uses(ast.parse(path.read_text()))
    ]
    assert not found, "private names used across modules; make them public in one place:\n" + (
        "\n".join(found)
    )


def test_the_private_check_sees_each_way_in() -> None:
    tree = ast.parse(
        "import adbc_driver_postgresql\n"
        "import mcp.shared._httpx_utils\n"
        "from connectors.adbc import AdbcConnector, _parse_table\n"
        "from ._utils import helper\n"
        "from sidecar import __version__\n"
        "path = adbc_driver_postgresql._driver_path()\n"
        "also = getattr(adbc_driver_postgresql, '_driver_path')\n"
        "def method(self):\n    return self._table\n"
    )
    assert set(private_uses(tree)) == {
        "import mcp.shared._httpx_utils",
        "from connectors.adbc import _parse_table",
        "from ._utils import ...",
        "adbc_driver_postgresql._driver_path",
        'getattr(adbc_driver_postgresql, "_driver_path")',
    }
