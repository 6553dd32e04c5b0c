"""The link module: a fixed fallback order, one way of saying "unsupported", nothing left behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from store import link
from store.hashcache import CHUNK_SIZE
from store.link import LinkMethod, LinkUnsupported, link_file


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(os.urandom(CHUNK_SIZE * 2 + 123))
    return path


def refuse(method: LinkMethod, calls: list[LinkMethod] | None = None):  # type: ignore[no-untyped-def]
    def primitive(src: Path, dst: Path) -> None:
        if calls is not None:
            calls.append(method)
        raise LinkUnsupported(method, src, dst, "not here")

    return primitive


def test_tries_reflink_then_hardlink_then_copy(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[LinkMethod] = []
    monkeypatch.setattr(link, "reflink", refuse(LinkMethod.REFLINK, calls))
    monkeypatch.setattr(link, "hardlink", refuse(LinkMethod.HARDLINK, calls))
    dst = tmp_path / "copy"

    assert link_file(src, dst) is LinkMethod.COPY
    assert calls == [LinkMethod.REFLINK, LinkMethod.HARDLINK]
    assert dst.read_bytes() == src.read_bytes()
    assert not dst.is_symlink()


def test_hardlink_on_one_file_system_shares_the_inode(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link, "reflink", refuse(LinkMethod.REFLINK))
    dst = tmp_path / "linked"

    assert link_file(src, dst) is LinkMethod.HARDLINK
    assert dst.stat().st_ino == src.stat().st_ino
    assert src.stat().st_nlink == 2


def test_reflink_clones_or_says_unsupported_and_leaves_nothing(src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "clone"
    try:
        link.reflink(src, dst)
    except LinkUnsupported as exc:
        assert exc.method is LinkMethod.REFLINK
        assert not dst.exists()
    else:
        assert dst.read_bytes() == src.read_bytes()
        assert dst.stat().st_ino != src.stat().st_ino


def test_hardlink_across_file_systems_is_unsupported_and_copy_takes_over(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cross_device(_src: object, _dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(link, "reflink", refuse(LinkMethod.REFLINK))
    monkeypatch.setattr(os, "link", cross_device)
    dst = tmp_path / "copy"

    with pytest.raises(LinkUnsupported) as caught:
        link.hardlink(src, dst)
    assert caught.value.method is LinkMethod.HARDLINK
    assert link_file(src, dst) is LinkMethod.COPY
    assert dst.read_bytes() == src.read_bytes()


def test_a_real_failure_is_not_mistaken_for_unsupported(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(_src: object, _dst: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(link, "reflink", refuse(LinkMethod.REFLINK))
    monkeypatch.setattr(os, "link", denied)

    with pytest.raises(PermissionError):
        link_file(src, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_only_the_allowed_methods_are_tried(src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    assert link_file(src, dst, allow={LinkMethod.COPY}) is LinkMethod.COPY
    assert dst.stat().st_ino != src.stat().st_ino


def test_when_nothing_allowed_works_the_last_refusal_is_raised(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link, "hardlink", refuse(LinkMethod.HARDLINK))
    with pytest.raises(LinkUnsupported) as caught:
        link_file(src, tmp_path / "dst", allow={LinkMethod.HARDLINK})
    assert caught.value.method is LinkMethod.HARDLINK
    with pytest.raises(ValueError):
        link_file(src, tmp_path / "dst", allow=())


def test_symlink_only_on_request(src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "pointer"
    assert link_file(src, dst, allow={LinkMethod.SYMLINK, LinkMethod.COPY}) is LinkMethod.SYMLINK
    assert dst.is_symlink()
    assert os.readlink(dst) == str(src.resolve())
    assert LinkMethod.SYMLINK not in link.DEFAULT_METHODS


def test_an_existing_destination_is_never_overwritten(src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "taken"
    dst.write_bytes(b"mine")
    for method in link.ORDER:
        with pytest.raises((FileExistsError, LinkUnsupported)):
            link_file(src, dst, allow={method})
        assert dst.read_bytes() == b"mine"


def test_copy_shows_every_chunk_once_in_order(src: Path, tmp_path: Path) -> None:
    seen: list[bytes] = []
    link.copy(src, tmp_path / "dst", on_chunk=lambda chunk: seen.append(bytes(chunk)))
    assert b"".join(seen) == src.read_bytes()
    assert max(map(len, seen)) <= CHUNK_SIZE


def test_a_failed_copy_leaves_no_destination(src: Path, tmp_path: Path) -> None:
    def fail(_chunk: memoryview) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        link.copy(src, tmp_path / "dst", on_chunk=fail)
    assert not (tmp_path / "dst").exists()
