"""What killed or abandoned writers leave behind, found for ``gc`` and counted for ``du``.

    blobs/.tmp-*                  a stream or import that never finished
    manifests/**/.tmp-*           a manifest write that was interrupted
    .lamina/partial/sha256-*      a pull nobody continued
    .lamina/uploads/<id>          an upload session nobody continued
    .lamina/locks/blob-*.lock     a blob lock whose holder was killed

Age is the newest inode change time of the files involved. A partial blob or an upload that a
process holds (its ``flock``) is never removed, however old, and removal happens under that
lock, so a process resuming one at the same moment finds it gone and starts afresh, instead of
writing into a file gc has unlinked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import locks
from ..errors import StorageError, storage_errors
from ..layout import PARTIAL_SUFFIX, TEMP_PREFIX, Layout

Kind = Literal["temp", "manifest-temp", "partial", "upload"]


@dataclass(frozen=True, slots=True)
class Leftover:
    kind: Kind
    path: Path
    """The file gc deletes (for a partial blob, its ``.part`` file; its record goes with it)."""
    size: int
    """Bytes allocated on disk (a partial file is sparse until its parts arrive)."""


def find(layout: Layout, *, older_than: float) -> list[Leftover]:
    """Every leftover nobody has touched for ``older_than`` seconds (and nobody holds)."""
    cutoff = time.time() - older_than
    return [
        *_plain("temp", _temps(layout.blobs), cutoff),
        *_plain("manifest-temp", _manifest_temps(layout.manifests), cutoff),
        *_partials(layout, cutoff),
        *(item for item in _plain("upload", _files(layout.uploads), cutoff)
          if not _held(item.path)),
    ]


def usage(layout: Layout) -> dict[Kind, int]:
    """Bytes on disk of every leftover, young or old, by kind."""
    totals: dict[Kind, int] = {"temp": 0, "manifest-temp": 0, "partial": 0, "upload": 0}
    sources: list[tuple[Kind, Iterator[Path]]] = [
        ("temp", _temps(layout.blobs)),
        ("manifest-temp", _manifest_temps(layout.manifests)),
        ("partial", _files(layout.partials)),
        ("upload", _files(layout.uploads)),
    ]
    for kind, paths in sources:
        for path in paths:
            st = _lstat(path)
            totals[kind] += _allocated(st) if st else 0
    return totals


def remove(item: Leftover) -> bool:
    """Delete one leftover; False if a process took hold of it since it was found."""
    with storage_errors(item.path, "cannot delete"):
        if item.kind in ("temp", "manifest-temp"):
            item.path.unlink(missing_ok=True)
            return True
        companions = _records(item.path) if item.kind == "partial" else []
        return _unlink_unheld(item.path, companions)


def remove_free_locks(layout: Layout, *, older_than: float) -> int:
    """Delete blob lock files killed holders left (lock files normally vanish on release)."""
    cutoff = time.time() - older_than
    removed = 0
    for path in _files(layout.locks):
        st = _lstat(path)
        if path.name.startswith("blob-") and st and st.st_ctime <= cutoff:
            with storage_errors(path, "cannot delete"):
                removed += locks.remove_if_free(path)
    return removed


def _plain(kind: Kind, paths: Iterator[Path], cutoff: float) -> Iterator[Leftover]:
    for path in paths:
        st = _lstat(path)
        if st is not None and st.st_ctime <= cutoff:
            yield Leftover(kind, path, _allocated(st))


def _partials(layout: Layout, cutoff: float) -> Iterator[Leftover]:
    """Each partial blob once, by its ``.part`` file; records whose file is gone alone."""
    for path in _files(layout.partials):
        if path.name.endswith(PARTIAL_SUFFIX):
            group = [path, *_records(path)]
        elif (layout.partials / (_stem(path.name) + PARTIAL_SUFFIX)).exists():
            continue  # a record: it goes with its .part file
        else:
            group = [path]
        stats = [st for st in map(_lstat, group) if st is not None]
        if stats and max(st.st_ctime for st in stats) <= cutoff and not _held(path):
            yield Leftover("partial", path, sum(_allocated(st) for st in stats))


def _records(part: Path) -> list[Path]:
    stem = part.name.removesuffix(PARTIAL_SUFFIX)
    return [part.with_name(stem + ".ranges"), part.with_name(stem + ".ranges.new")]


def _stem(name: str) -> str:
    return name.split(".", 1)[0]


def _held(path: Path) -> bool:
    """Whether a process holds the file's ``flock`` right now."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also lets go of the lock just taken
    return False


def _unlink_unheld(path: Path, companions: list[Path]) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        for other in companions:
            other.unlink(missing_ok=True)
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if locks.is_current(path, fd):
            path.unlink()
        for other in companions:
            other.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def _temps(folder: Path) -> Iterator[Path]:
    return (path for path in _files(folder) if path.name.startswith(TEMP_PREFIX))


def _manifest_temps(folder: Path) -> Iterator[Path]:
    for top, _dirs, names in os.walk(folder):  # an unreadable folder is skipped, not fatal
        for name in names:
            if name.startswith(TEMP_PREFIX):
                yield Path(top) / name


def _files(folder: Path) -> Iterator[Path]:
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError.from_oserror(exc, folder) from exc
    for name in names:
        yield folder / name


def _lstat(path: Path) -> os.stat_result | None:
    with contextlib.suppress(FileNotFoundError):
        return path.lstat()
    return None


def _allocated(st: os.stat_result) -> int:
    return st.st_blocks * 512
