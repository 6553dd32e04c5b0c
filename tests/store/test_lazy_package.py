"""``import store`` loads nothing until a name is used, and every name still resolves."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import store


def fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def test_importing_store_loads_no_submodule() -> None:
    loaded = fresh("import sys, store; print(sorted(m for m in sys.modules "
                   "if m.startswith('store.')))")
    assert loaded == "[]"


def test_reading_blobs_loads_no_writer_of_partials_or_uploads() -> None:
    loaded = fresh("import sys, store.blobs; print(sorted(m for m in sys.modules if m in "
                   "('threading', 'secrets', 'hashlib', 'filelock', 'store.blobs.partial', "
                   "'store.blobs.uploads')))")
    assert loaded == "[]"


def test_store_create_stays_the_function_whatever_loads_first() -> None:
    assert fresh("import store.create, store; print(callable(store.create), "
                 "type(store.create).__name__)") == "True function"
    assert fresh("import store, sys; store.create; import store.create; "
                 "print(type(store.create).__name__, type(sys.modules['store.create']).__name__)"
                 ) == "function module"


def test_the_type_checking_imports_match_the_lazy_table() -> None:
    tree = ast.parse(Path(store.__file__).read_text(encoding="utf-8"))
    guarded = next(node for node in tree.body if isinstance(node, ast.If))
    imported = {
        node.module: tuple(alias.name for alias in node.names)
        for node in guarded.body if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported == store._EXPORTS
    assert sorted(store.__all__) == sorted(store._HOME)
