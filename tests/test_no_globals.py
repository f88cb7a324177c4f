"""No module-level service registries or mutable globals in the server (``facepay/``,
``api/``): services are built once, by the bootstrap, and handed to what uses them.

Checked on the source: no ``global`` statement; no module-level binding to a mutable
container (a dict, list or set display or comprehension, or a call of a mutable
container type); no module-level instance of a class of the server's own (a service
object living beside the code instead of in the bootstrap's graph). Constant tables are
written as tuples, frozensets or ``MappingProxyType``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER = ("facepay", "api")
MUTABLE_CALLS = {
    "dict",
    "list",
    "set",
    "defaultdict",
    "OrderedDict",
    "deque",
    "Counter",
    "WeakValueDictionary",
    "WeakKeyDictionary",
    "WeakSet",
}
MUTABLE_NODES = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)


def _server_classes() -> set[str]:
    return {
        node.name
        for package in SERVER
        for path in (ROOT / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    }


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _findings(path: Path, classes: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT)
    found = [
        f"{where}:{n.lineno} global statement" for n in ast.walk(tree) if isinstance(n, ast.Global)
    ]
    for node in tree.body:
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if value is None:
            continue
        if isinstance(value, MUTABLE_NODES):
            found.append(f"{where}:{node.lineno} module-level mutable {type(value).__name__}")
        elif isinstance(value, ast.Call):
            callee = _callee(value)
            if callee in MUTABLE_CALLS:
                found.append(f"{where}:{node.lineno} module-level {callee}()")
            elif callee in classes:
                found.append(f"{where}:{node.lineno} module-level instance of {callee}")
    return found


@pytest.mark.parametrize("package", SERVER)
def test_no_module_level_registries_or_mutable_globals(package: str) -> None:
    classes = _server_classes()
    findings = [
        finding
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for finding in _findings(path, classes)
    ]
    assert findings == []


def test_the_check_sees_a_registry(tmp_path: Path) -> None:
    """The check itself: each kind of global it forbids is found."""
    source = tmp_path / "facepay_like.py"
    source.write_text(
        "class Box: ...\n"
        "_services = {}\n"
        "_pending = Box()\n"
        "_seen = set()\n"
        "def f():\n    global _services\n",
        encoding="utf-8",
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert len(_findings(source, {"Box"})) == 4
    finally:
        ROOT = saved
