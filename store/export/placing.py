"""Putting files into another tool's folder: linked through the store's link module, renamed
into place only when complete, every folder lamina had to create remembered.

Exports prefer a hard link, then a reflink, then a copy: a hard link costs no bytes and is the
same inode Ollama or LM Studio then reads, so ``lamina gc`` removing the store's name for it
never takes the weights away from them.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from ..errors import storage_errors
from ..link import LinkMethod, LinkUnsupported, fsync_dir, link_file

__all__ = ["EXPORT_ORDER", "make_dirs", "place_file", "remove_empty_dirs", "write_atomically"]

EXPORT_ORDER = (LinkMethod.HARDLINK, LinkMethod.REFLINK, LinkMethod.COPY)
"""What ``--link`` left unset tries, in order."""

TEMP_PREFIX = ".lamina-tmp-"


def place_file(src: Path, dst: Path, method: LinkMethod | None = None, *,
               replace: bool = False, sync_dir: bool = True) -> LinkMethod:
    """Make ``dst`` hold ``src``'s bytes with ``method`` (None: :data:`EXPORT_ORDER`).

    ``sync_dir=False`` leaves making the new name durable to the caller, which places several
    files in one folder and syncs it once."""
    temp = dst.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    with storage_errors(dst, "cannot place the file"):
        try:
            used = _link(src, temp, method)
            if not replace and os.path.lexists(dst):
                raise FileExistsError(17, "appeared while lamina was writing it", str(dst))
            os.replace(temp, dst)
        finally:
            if os.path.lexists(temp):
                os.unlink(temp)
        if sync_dir:
            fsync_dir(dst.parent)
    return used


def _link(src: Path, temp: Path, method: LinkMethod | None) -> LinkMethod:
    order = EXPORT_ORDER if method is None else (method,)
    failure: LinkUnsupported | None = None
    for candidate in order:
        try:
            return link_file(src, temp, allow={candidate})
        except LinkUnsupported as exc:
            failure = exc
    assert failure is not None
    raise failure


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, and rename it over ``path``."""
    temp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    with storage_errors(path, "cannot write"):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                os.write(fd, data)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)
        finally:
            if os.path.lexists(temp):
                os.unlink(temp)
        fsync_dir(path.parent)


def make_dirs(path: Path, created: list[str]) -> None:
    """Create ``path`` and its missing parents, adding each one created to ``created``."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    with storage_errors(path, "cannot create the folder"):
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            created.append(str(folder))


def remove_empty_dirs(dirs: list[str]) -> list[str]:
    """Remove those of ``dirs`` that are empty, deepest first; return the ones removed."""
    removed = []
    for folder in sorted(dirs, key=lambda d: d.count(os.sep), reverse=True):
        try:
            os.rmdir(folder)
        except OSError:
            continue  # not empty (someone else's files), or already gone
        removed.append(folder)
    return removed
