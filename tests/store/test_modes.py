"""A user's GGUF that create hard-linked and made read-only gets its mode back when the last
model using it is removed (rm, a create's prune, gc)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import modelfile
import store


@pytest.fixture
def lamina(tmp_path: Path) -> store.Store:
    return store.Store(tmp_path / "home")


def build(lamina: store.Store, name: str, text: str, base: Path) -> store.CreateResult:
    return store.create(lamina, name, modelfile.parse(text), base_dir=base)


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def hardlinked(result: store.CreateResult) -> None:
    (_, imported), *_ = result.imports
    if imported.method is not store.LinkMethod.HARDLINK:
        pytest.skip(f"this file system placed the file by {imported.method}")


def test_rm_of_the_last_model_gives_the_mode_back(lamina: store.Store, tiny_gguf: Path) -> None:
    tiny_gguf.chmod(0o640)
    hardlinked(build(lamina, "a", "FROM ./tiny.gguf\n", tiny_gguf.parent))
    build(lamina, "b", "FROM ./tiny.gguf\nSYSTEM b\n", tiny_gguf.parent)
    assert mode(tiny_gguf) == 0o444
    lamina.remove("a")
    assert mode(tiny_gguf) == 0o444  # b still uses it
    lamina.remove("b")
    assert mode(tiny_gguf) == 0o640
    assert not lamina.layout.mode_record(store.Digest.of(tiny_gguf.read_bytes())).exists()


def test_a_prune_and_gc_give_the_mode_back(
    lamina: store.Store, tiny_gguf: Path, make_gguf: object
) -> None:
    other = make_gguf("other.gguf", arch="llama")  # type: ignore[operator]
    hardlinked(build(lamina, "m", "FROM ./tiny.gguf\n", tiny_gguf.parent))
    build(lamina, "m", f"FROM {other}\n", tiny_gguf.parent)  # replaces m: tiny is pruned
    assert mode(tiny_gguf) == 0o644
    hardlinked(build(lamina, "n", "FROM ./tiny.gguf\n", tiny_gguf.parent))
    path = lamina.root / "manifests/registry.ollama.ai/library/n/latest"
    path.unlink()  # as if the model were removed by hand
    store.gc(lamina, grace=0)
    assert mode(tiny_gguf) == 0o644


def test_a_file_replaced_since_keeps_its_mode(lamina: store.Store, tiny_gguf: Path) -> None:
    hardlinked(build(lamina, "a", "FROM ./tiny.gguf\n", tiny_gguf.parent))
    data = tiny_gguf.read_bytes()
    digest = store.Digest.of(data)
    record = lamina.layout.mode_record(digest)
    mode_text, dev, _ino = record.read_text().split()
    record.write_text(f"{mode_text} {dev} 1\n")  # the blob is no longer the inode recorded
    lamina.remove("a")
    assert mode(tiny_gguf) == 0o444
