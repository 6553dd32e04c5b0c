"""A store holding one small model made by ``create``, for the export tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import modelfile
import store
from tests.conftest import MakeGGUF


def build(home: Path, name: str, text: str, folder: Path) -> store.Store:
    the_store = store.Store(home)
    store.create(the_store, name, modelfile.parse(text), base_dir=folder)
    return the_store


@pytest.fixture
def small_store(tmp_path: Path, tiny_gguf: Path) -> store.Store:
    """``tiny`` (the 68-byte GGUF, a SYSTEM and a stop parameter) in ``tmp_path/home``."""
    return build(tmp_path / "home", "tiny",
                 "FROM ./tiny.gguf\nSYSTEM be brief\nPARAMETER stop <end>\n", tiny_gguf.parent)


@pytest.fixture
def gguf_store(tmp_path: Path, make_gguf: MakeGGUF) -> store.Store:
    """``m`` made from a GGUF with a tensor, in ``tmp_path/home``."""
    make_gguf("w.gguf")
    return build(tmp_path / "home", "m", "FROM ./w.gguf\n", tmp_path)


PEERS = Path(__file__).parents[3] / ".peers" / "node_modules"
CHECKER = Path(__file__).with_name("lmstudio_check.cjs")
SchemaCheck = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def lmstudio_schemas() -> SchemaCheck:
    """Runs LM Studio's own zod schemas (npm @lmstudio/lms-shared-types, lms-kv-config) on
    model.yaml files and folder names, with node; installed by scripts/install-peers.sh."""
    node = shutil.which("node")
    if node is None or not (PEERS / "@lmstudio" / "lms-kv-config").is_dir():
        message = "node or LM Studio's schema packages are missing (bash scripts/install-peers.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    def check(yaml: Sequence[Path] = (), folders: Sequence[str] = ()) -> dict[str, Any]:
        request = json.dumps({"yaml": [str(p) for p in yaml], "folders": list(folders)})
        done = subprocess.run([node, str(CHECKER)], input=request, capture_output=True,
                              text=True, env={**os.environ, "NODE_PATH": str(PEERS)},
                              check=True, timeout=60)
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return check
