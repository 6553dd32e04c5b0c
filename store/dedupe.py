"""Finding identical GGUF files across folders (Ollama's, LM Studio's, the Hugging Face cache,
the store) and, only when asked, replacing the copies with hard links to one of them.

Files are compared by size first and hashed only when sizes match; symbolic links are not
followed (the Hugging Face cache's snapshots are links to its blobs). The store's blob is the one
kept when a group has one; a copy on another file system cannot be linked and is reported.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ocitypes import Digest

from .errors import StorageError, storage_errors
from .hashcache import Hasher

__all__ = ["DedupeReport", "Duplicates", "dedupe"]

MAGIC = b"GGUF"


@dataclass(frozen=True, slots=True)
class Duplicates:
    """Files with the same bytes: ``keep`` stays, each of ``copies`` can become a link to it."""

    digest: Digest
    size: int
    keep: Path
    copies: tuple[Path, ...]
    unlinkable: tuple[Path, ...] = ()
    """Copies on another file system than ``keep``: they cannot be hard-linked."""

    @property
    def saving(self) -> int:
        return self.size * len({_inode(p) for p in self.copies})


@dataclass(frozen=True, slots=True)
class DedupeReport:
    groups: tuple[Duplicates, ...]
    applied: bool
    saved: int
    """Bytes freed (``applied``) or that ``--apply`` would free."""
    failures: tuple[tuple[Path, str], ...] = ()


def dedupe(paths: Sequence[Path], *, prefer: Path | None = None, apply: bool = False
           ) -> DedupeReport:
    """Group identical GGUFs under ``paths``; with ``apply``, hard-link the copies."""
    groups = _groups(paths, prefer)
    if not apply:
        return DedupeReport(tuple(groups), False, sum(g.saving for g in groups))
    saved = 0
    failures: list[tuple[Path, str]] = []
    for group in groups:
        done: set[tuple[int, int]] = set()
        for copy in group.copies:
            inode = _inode(copy)
            try:
                _replace_with_link(group.keep, copy, group.size)
            except StorageError as exc:
                failures.append((copy, exc.problem))
                continue
            done.add(inode)
        saved += group.size * len(done)
    return DedupeReport(tuple(groups), True, saved, tuple(failures))


def _groups(paths: Sequence[Path], prefer: Path | None) -> list[Duplicates]:
    by_size: dict[int, dict[tuple[int, int], list[Path]]] = {}
    for path, st in _ggufs(paths):
        by_size.setdefault(st.st_size, {}).setdefault((st.st_dev, st.st_ino), []).append(path)
    groups = []
    for size, inodes in sorted(by_size.items()):
        if len(inodes) < 2:
            continue
        by_digest: dict[Digest, list[tuple[tuple[int, int], list[Path]]]] = {}
        for inode, names in inodes.items():
            by_digest.setdefault(_hash(names[0]), []).append((inode, sorted(names)))
        for digest, members in sorted(by_digest.items()):
            if len(members) > 1:
                groups.append(_group(digest, size, members, prefer))
    return groups


def _group(digest: Digest, size: int, members: list[tuple[tuple[int, int], list[Path]]],
           prefer: Path | None) -> Duplicates:
    def rank(member: tuple[tuple[int, int], list[Path]]) -> tuple[bool, str]:
        in_store = prefer is not None and any(prefer in p.parents for p in member[1])
        return (not in_store, str(member[1][0]))

    members.sort(key=rank)
    (device, _), keep_names = members[0]
    copies = [p for (dev, _), names in members[1:] if dev == device for p in names]
    elsewhere = [p for (dev, _), names in members[1:] if dev != device for p in names]
    return Duplicates(digest, size, keep_names[0], tuple(copies), tuple(elsewhere))


def _ggufs(paths: Sequence[Path]) -> Iterator[tuple[Path, os.stat_result]]:
    seen: set[Path] = set()
    for top in paths:
        for path in _walk(Path(os.path.abspath(top))):
            if path in seen:
                continue
            seen.add(path)
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if st.st_size >= len(MAGIC) and _is_regular(st) and _magic(path):
                    yield path, st


def _walk(top: Path) -> Iterator[Path]:
    if not top.is_dir() or top.is_symlink():
        yield top
        return
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            yield Path(folder) / name


def _is_regular(st: os.stat_result) -> bool:
    import stat

    return stat.S_ISREG(st.st_mode)


def _magic(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _hash(path: Path) -> Digest:
    hasher = Hasher(None)
    with storage_errors(path, "cannot read"):
        fd = os.open(path, os.O_RDONLY)
        try:
            hasher.update_from(fd)
        finally:
            os.close(fd)
    return hasher.digest()


def _inode(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def _replace_with_link(keep: Path, copy: Path, size: int) -> None:
    """Swap ``copy`` for a hard link to ``keep`` in one rename, if it is still that copy."""
    temp = copy.with_name(f".lamina-tmp-{uuid.uuid4().hex}")
    with storage_errors(copy, "cannot replace it with a link"):
        if os.lstat(copy).st_size != size:
            raise StorageError(str(copy), "changed since it was hashed; run dedupe again")
        os.link(keep, temp)
        try:
            os.replace(temp, copy)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
