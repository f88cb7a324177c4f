"""A product reads only its install, its data directory and its settings: no product module
names the shared folder beside the repository, and none climbs out of its own package
from ``__file__`` (where a developer's checkout happens to have neighbours)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = (
    "biometrics",
    "payments",
    "card_network",
    "cabinet_runtime",
    "facepay",
    "api",
    "facepay_demo",
)


def _uses_of_file(tree: ast.AST) -> list[ast.AST]:
    """Expressions built on this module's own ``__file__``."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute | ast.Subscript | ast.Call)
        and any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(node))
    ]


def _climb(node: ast.AST) -> int:
    """How many folders up from the module an expression goes (``.parent`` counts one,
    ``.parents[i]`` counts i + 1)."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "parents"
        and isinstance(node.slice, ast.Constant)
    ):
        return int(node.slice.value) + 1 + _climb(node.value.value)
    if isinstance(node, ast.Attribute):
        return (1 if node.attr == "parent" else 0) + _climb(node.value)
    if isinstance(node, ast.Call):
        return _climb(node.func)
    return 0


def findings(path: Path, package_root: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(package_root.parent)
    found = [
        f"{where}:{node.lineno} names {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (
            node.value in ("shared", "..")
            or "/shared/" in node.value
            or node.value.startswith("../")
        )
    ]
    # The module's folder is climb 1; its package root is as deep as the module sits.
    depth = len(path.relative_to(package_root).parts)
    found += [
        f"{where}:{node.lineno} climbs {_climb(node)} folders from __file__"
        for node in _uses_of_file(tree)
        if _climb(node) > depth
    ]
    return sorted(set(found))


@pytest.mark.parametrize("package", PRODUCT)
def test_product_code_reaches_no_path_outside_its_install(package: str) -> None:
    root = ROOT / package
    assert [f for p in sorted(root.rglob("*.py")) for f in findings(p, root)] == []


def test_the_check_sees_a_climb_and_the_shared_folder(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    sample = package / "sub" / "mod.py"
    sample.write_text(
        "from pathlib import Path\n"
        "OK = Path(__file__).parent / 'data'\n"
        "UP = Path(__file__).resolve().parents[2] / 'x'\n"
        "SHARED = Path('..') / 'shared'\n",
        encoding="utf-8",
    )
    found = findings(sample, package)
    assert any("climbs 3" in f for f in found) and any("'shared'" in f for f in found)
    assert not any(":2 " in f for f in found)
