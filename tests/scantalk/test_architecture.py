"""The house rules a reader relies on: the core never imports a node nor the CLI's tools, no
node imports another, and the CLI finds every node and every tool through the registry."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import scantalk
from scantalk import registry
from scantalk.contract import NodeName
from scantalk.registry import nodes

CORE = Path(scantalk.__file__).parent
MODULE = re.compile(r"[a-z_]+(\.[a-z_]+)+(:\w+)?$")
"""A dotted module path in a string, as `importlib.import_module` or an entry point takes."""
NODE_PACKAGES = {"camera_node", "classifier_node", "voice_node", "bridge", "scale_node"}
COMMANDS = CORE / "commands"
GROUPS = {registry.GROUP, registry.COMMANDS}
"""Entry point groups: dotted names, but not modules."""
ENTRY = "scantalk/__main__.py"
"""`python -m scantalk`: the one core module that runs the CLI."""


def imported_modules(package: Path) -> dict[str, set[str]]:
    """Modules each module of `package` imports, anywhere in it (lazy imports too), and any it
    names as a dotted module string (`importlib.import_module("bridge.node")`)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and MODULE.match(node.value)
                and node.value not in GROUPS
            ):
                names.add(node.value.split(":")[0])
        found[str(path.relative_to(package.parent))] = names
    return found


def imported_packages(package: Path) -> dict[str, set[str]]:
    """Top-level packages each module of `package` imports."""
    return {m: {n.split(".")[0] for n in names} for m, names in imported_modules(package).items()}


def test_the_core_imports_no_node_package_and_no_tool():
    core = {
        module: names
        for module, names in imported_modules(CORE).items()
        if not module.startswith("scantalk/commands/") and module != ENTRY
    }
    leaks = {
        module: sorted(n for n in names
                       if n.split(".")[0] in NODE_PACKAGES or n.startswith("scantalk.commands"))
        for module, names in core.items()
    }  # fmt: skip
    assert {m: n for m, n in leaks.items() if n} == {}


def test_the_tools_import_no_node_package():
    leaks = {
        module: sorted(names & NODE_PACKAGES)
        for module, names in imported_packages(COMMANDS).items()
        if names & NODE_PACKAGES
    }
    assert leaks == {}


@pytest.mark.parametrize("package", sorted(NODE_PACKAGES))
def test_a_node_imports_no_other_node(package):
    root = CORE.parent / package
    others = NODE_PACKAGES - {package}
    leaks = {m: sorted(n & others) for m, n in imported_packages(root).items() if n & others}
    assert leaks == {}


def test_every_node_of_the_contract_is_registered_with_its_own_settings():
    registered = nodes()
    assert list(registered) == list(NodeName)
    for spec in registered.values():
        assert spec.settings.__module__ == f"{spec.run.__module__.split('.')[0]}.settings"


def test_listing_the_cli_loads_no_node_machinery():
    """`scantalk --help` reads the registry only: no model runtime, audio or IoT SDK is loaded,
    so a node's image works even without the other nodes' extras."""
    heavy = ["onnxruntime", "cv2", "pygame", "azure", "numpy"]
    code = (
        "import sys\nfrom scantalk.commands.cli import parser\n"
        "from scantalk.registry import commands, nodes\n"
        f"parser(nodes(), commands())\nprint([m for m in {heavy!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
