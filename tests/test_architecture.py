"""The package boundaries of ARCHITECTURE.md, checked on every import statement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "biometrics": {"facepay", "api", "payments", "cabinet_runtime"},
    "payments": {"facepay", "api", "biometrics", "cabinet_runtime", "card_network"},
    # The sandbox card network is a peer system: it may use payments' wire protocols and
    # value types, and nothing of the server or the cabinet.
    "card_network": {"facepay", "api", "biometrics", "cabinet_runtime"},
    "cabinet_runtime": {"facepay", "api", "payments"},
    "facepay": {"api"},
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_packages_never_import_higher_ones(package: str) -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(_imported_packages(path) & FORBIDDEN[package])
    ]
    assert crossings == []


def _only_protocol(node: ast.ImportFrom) -> bool:
    if node.module == "cabinet_runtime.protocol":
        return True
    return node.module == "cabinet_runtime" and all(a.name == "protocol" for a in node.names)


def test_server_uses_only_the_protocol_of_cabinet_runtime() -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {node.module}"
        for package in ("facepay", "api")
        for path in sorted((ROOT / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and node.level == 0
        and (node.module or "").startswith("cabinet_runtime")
        and not _only_protocol(node)
    ]
    assert crossings == []


def test_test_modules_have_unique_names() -> None:
    """pytest imports test modules by basename (rootdir-relative imports such as
    ``from peer import ...`` rely on it), so two files of one name would collide."""
    names = [p.name for p in (ROOT / "tests").rglob("*.py") if p.name != "conftest.py"]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
