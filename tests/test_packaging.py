"""The wheel ships every package of the tree, not only those an editable install happens to see."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = ("ocitypes", "modelfile", "store", "registry", "lamina")


def is_shipped(package: str) -> bool:
    """Whether setuptools puts ``package`` in a wheel, as pyproject.toml configures it."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = setuptools.get("packages", {})
    if isinstance(packages, list):
        return package in packages
    return any(fnmatch(package, pattern) for pattern in packages["find"]["include"])


def test_every_package_in_the_tree_is_shipped() -> None:
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in TOP for init in (ROOT / top).rglob("__init__.py")
    }
    assert {package for package in on_disk if not is_shipped(package)} == set()


def test_the_chat_templates_are_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "templates/*.gotmpl" in data["package-data"]["store"]
    assert list((ROOT / "store" / "templates").glob("*.gotmpl"))
