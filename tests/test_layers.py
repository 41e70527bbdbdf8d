"""Imports point downwards only: core <- adapters <- services <- interfaces.

core imports nothing but the standard library and core; adapters never import
services or interfaces; services never import interfaces; interfaces (cli, api,
web) import services only (plus their own framework libraries).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "helgenom"
INTERFACES = ("cli", "api", "web")


def layer_of(module: str) -> str:
    """The layer of a ``helgenom.*`` module name."""
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    head = parts[1]
    if head in ("core", "adapters", "services"):
        return head
    if head in INTERFACES:
        return "interfaces"
    if head == "__main__":
        return "interfaces"
    raise AssertionError(f"module {module} is in no layer: put it under core/adapters/services/cli")


def module_name(path: Path, src: Path = SRC) -> str:
    rel = path.relative_to(src.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, src: Path = SRC) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path, src)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                found.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.append(node.module)
    return found


ALLOWED = {
    "core": {"core"},
    "adapters": {"core", "adapters"},
    "services": {"core", "adapters", "services"},
    "interfaces": {"services", "interfaces"},
    "root": {"core", "root"},
}


def violations(src: Path) -> list[str]:
    """Every import in the package at ``src`` that crosses a layer the wrong way."""
    problems: list[str] = []
    for path in sorted(src.rglob("*.py")):
        if "migrations" in path.relative_to(src).parts:
            continue
        name = module_name(path, src)
        layer = layer_of(name)
        for imported in imports_of(path, src):
            top = imported.split(".")[0]
            if top == "helgenom":
                target = layer_of(imported)
                if target not in ALLOWED[layer]:
                    problems.append(f"{name} ({layer}) imports {imported} ({target})")
            elif layer == "core" and top not in sys.stdlib_module_names:
                problems.append(f"core module {name} imports third-party {imported}")
            elif layer == "interfaces" and top == "sqlalchemy":
                problems.append(f"interface module {name} imports {imported}")
    return problems


def test_imports_point_downwards() -> None:
    assert violations(SRC) == []


def test_layer_check_catches_violations(tmp_path: Path) -> None:
    """The checker itself finds each kind of wrong-way import in a planted package."""
    src = tmp_path / "helgenom"
    planted = {
        "core/bad_framework.py": "import sqlalchemy\n",
        "core/bad_up.py": "from helgenom.services import gate\n",
        "adapters/bad.py": "from ..services.gate import Gate\n",
        "services/bad.py": "import helgenom.cli.main\n",
        "cli/bad_adapter.py": "from helgenom.adapters.catalog import Catalog\n",
        "cli/bad_core.py": "from helgenom.core.cpr import parse_cpr\n",
        "cli/good.py": "from helgenom.services import Role\nimport typer\n",
        "core/good.py": "import hmac\nfrom helgenom.core import errors\n",
    }
    for rel, text in planted.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    found = violations(src)
    assert len(found) == 6, found
    assert not any("good" in v for v in found)
