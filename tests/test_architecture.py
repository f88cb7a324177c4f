"""The package map of docs/architecture.md, checked on every import statement: each
package imports only the standard library, itself and what its row allows."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What each package may import besides the standard library and itself. An entry names a
# top-level package, or one module of it ("cabinet_runtime.protocol": the server side
# knows the wire, never the device's code).
ALLOWED: dict[str, set[str]] = {
    "biometrics": {"numpy", "cv2", "insightface", "onnxruntime", "cryptography", "hnswlib"},
    "payments": {"sqlalchemy", "cryptography", "stripe", "httpx", "msgspec"},
    "card_network": {
        "payments",
        "litestar",
        "msgspec",
        "cryptography",
        "httpx",
        "jinja2",
        "uvicorn",
    },
    "cabinet_runtime": {
        "biometrics",
        "msgspec",
        "websockets",
        "numpy",
        "cv2",
        "cryptography",
        "httpx",
    },
    "facepay": {
        "biometrics",
        "payments",
        "cabinet_runtime.protocol",
        "sqlalchemy",
        "alembic",
        "msgspec",
        "cryptography",
        "numpy",
        "anyio",
        "redis",
        "segno",
        "uvicorn",
    },
    "api": {
        "facepay",
        "payments",
        "card_network",
        "cabinet_runtime.protocol",
        "litestar",
        "msgspec",
        "anyio",
        "jinja2",
        "multipart",
        "redis",
        "sqlalchemy",
    },
    "facepay_demo": {
        "api",
        "facepay",
        "payments",
        "biometrics",
        "cabinet_runtime",
        "numpy",
        "cv2",
        "httpx",
        "litestar",
        "sqlalchemy",
        "uvicorn",
    },
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(
                f"{node.module}.{alias.name}" if node.module in ALLOWED else node.module
                for alias in node.names
            )
    return names


def _allowed(package: str, module: str) -> bool:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top == "__future__" or top == package:
        return True
    return any(module == entry or module.startswith(f"{entry}.") for entry in ALLOWED[package])


def test_every_package_of_the_repository_has_a_row() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_what_their_row_allows(package: str) -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for module in sorted(_imports(path))
        if not _allowed(package, module)
    ]
    assert crossings == []


def test_test_modules_have_unique_names() -> None:
    """pytest imports test modules by basename (rootdir-relative imports such as
    ``from peer import ...`` rely on it), so two files of one name would collide."""
    names = [p.name for p in (ROOT / "tests").rglob("*.py") if p.name != "conftest.py"]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def _server_modules(root: Path) -> dict[str, Path]:
    modules = {}
    for path in (root / "facepay").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def test_imports_inside_facepay_run_one_way() -> None:
    """No two modules of the server core import each other, however indirectly: each
    concept sits above what it uses (the publisher owns its events, the inbox sits above
    the checkout, the bootstrap above everything)."""
    modules = _server_modules(ROOT)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    cycles = []
    for start in graph:  # a module that can reach itself is on a cycle
        seen, todo = set(), list(graph[start])
        while todo:
            current = todo.pop()
            if current == start:
                cycles.append(start)
                break
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
    assert cycles == []
