"""A store holding one small model made by ``create``, for the export tests."""

from __future__ import annotations

from pathlib import Path

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
