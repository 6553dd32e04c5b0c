"""A damaged manifest is shown, not hidden (list, du), and gc --dry-run reads a read-only store."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import modelfile
import store
from lamina.cli import main


@pytest.fixture
def lamina(tmp_path: Path) -> store.Store:
    return store.Store(tmp_path / "home")


def build(lamina: store.Store, name: str, text: str, base: Path) -> store.Manifest:
    return store.create(lamina, name, modelfile.parse(text), base_dir=base).manifest


def damage(lamina: store.Store, name: str, manifest: store.Manifest) -> Path:
    path = lamina.root / f"manifests/registry.ollama.ai/library/{name}/latest"
    path.write_bytes(manifest.bytes()[:-10])  # truncated: every digest still spelled
    return path


def test_survey_and_du_show_a_damaged_manifest(lamina: store.Store, tiny_gguf: Path) -> None:
    good = build(lamina, "good", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    bad = build(lamina, "bad", "FROM ./tiny.gguf\nSYSTEM only-bad\n", tiny_gguf.parent)
    path = damage(lamina, "bad", bad)
    entries, damaged = lamina.survey()
    assert [e.name.model for e in entries] == ["good"]
    (entry,) = damaged
    assert entry.name.model == "bad" and entry.digest == store.Digest.of(path.read_bytes())
    assert bad.config.digest in entry.held
    usage = store.du(lamina)
    assert (usage.models, usage.damaged, usage.unreferenced) == (1, 1, 0)
    only_bad = [d for d in bad.descriptors() if d.digest not in good.digests()]
    assert [d.media_type for d in only_bad] == ["application/vnd.ollama.image.system"]
    assert usage.held_by_damaged == only_bad[0].size == len("only-bad")


def test_list_marks_a_damaged_manifest(
    lamina: store.Store, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMINA_HOME", str(lamina.root))
    bad = build(lamina, "bad", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    damage(lamina, "bad", bad)
    result = CliRunner().invoke(main, ["list"], catch_exceptions=False)
    assert result.exit_code == 0
    row = result.stdout.splitlines()[1].split()
    assert row[:2] == ["bad:latest", "damaged"]
    assert "warning: bad:latest is damaged" in result.stderr
    result = CliRunner().invoke(main, ["list", "--json"], catch_exceptions=False)
    (model,) = json.loads(result.stdout)["models"]
    assert (model["name"], model["status"]) == ("bad:latest", "damaged")
    assert model["problem"]
    result = CliRunner().invoke(main, ["du", "--json"], catch_exceptions=False)
    assert json.loads(result.stdout)["damaged_manifests"] == 1


def _read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write the store might try fails as on a read-only file system."""
    real_open = os.open

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    def open_for_reading(path: str | os.PathLike[str], flags: int, *args: int,
                         **kwargs: int) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC):
            refuse()
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_for_reading)
    for name in ("mkdir", "unlink", "rmdir", "replace", "rename", "chmod"):
        monkeypatch.setattr(os, name, refuse)


def test_gc_dry_run_works_on_a_read_only_store(
    lamina: store.Store, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(lamina, "m", "FROM ./tiny.gguf\nSYSTEM s\n", tiny_gguf.parent)
    lamina.copy("m", "n")
    (lamina.root / "manifests/registry.ollama.ai/library/m/latest").unlink()
    (lamina.root / "manifests/registry.ollama.ai/library/n/latest").unlink()
    before = sorted(p.name for p in (lamina.root / "blobs").iterdir())
    _read_only(monkeypatch)
    report = store.gc(lamina, dry_run=True, grace=0)
    assert report.dry_run and len(report.blobs) == 3
    with pytest.raises(store.StorageError, match="read-only"):
        store.gc(lamina, grace=0)  # a real gc still says why it cannot run
    monkeypatch.undo()
    assert sorted(p.name for p in (lamina.root / "blobs").iterdir()) == before


def test_gc_dry_run_without_a_lock_folder(lamina: store.Store, tiny_gguf: Path) -> None:
    build(lamina, "m", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    locks = lamina.layout.locks
    for path in locks.iterdir():
        path.unlink()
    locks.rmdir()
    locks.write_text("in the way")  # the lock file cannot be made
    assert store.gc(lamina, dry_run=True, grace=0).blobs == ()
