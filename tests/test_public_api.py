"""Each package exports a curated API, and imports only point the allowed way."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# Who may import whom: ocitypes is the pure leaf under all; modelfile <- store; registry speaks
# only the shared OCI types, never the store; lamina on top.
ALLOWED = {
    "ocitypes": set(),
    "modelfile": {"ocitypes"},
    "store": {"ocitypes", "modelfile"},
    "registry": {"ocitypes"},
    "lamina": {"ocitypes", "modelfile", "store", "registry"},
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_all_names_exist(package: str) -> None:
    module = importlib.import_module(package)
    assert hasattr(module, "__all__"), f"{package} has no curated __all__"
    exported = list(module.__all__)
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(module, name), f"{package}.{name}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependencies_point_one_way(package: str) -> None:
    ours = set(ALLOWED)
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in ours and top != package:
                    assert top in ALLOWED[package], f"{path.relative_to(ROOT)} imports {name}"


def test_modelfile_does_no_io_beyond_reading_a_path() -> None:
    forbidden = {"socket", "subprocess", "shutil", "tempfile", "httpx", "urllib"}
    for path in (ROOT / "modelfile").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        }
        assert not imported & forbidden, path
