"""The ledger: every file and folder lamina placed outside its home, so that it can remove
exactly those later and never a file of the user's.

One JSON file, ``<home>/.lamina/exports.json``, written atomically under a lock::

    {"version": 1, "exports": [{"target": "ollama", "root": "/abs/dir",
      "model": "registry.ollama.ai/library/x:latest",
      "files": [{"path": "/abs/…", "dev": 2049, "ino": 1234, "size": 68}],
      "dirs": ["/abs/…"]}]}

A file is recorded with the device and inode it had when lamina placed it. Removal deletes a
file only while it still has them: a file the user (or Ollama, or LM Studio) has since replaced
is a different inode and is left alone. Folders are recorded only when lamina created them and
are removed only when empty.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StorageError, storage_errors
from ..layout import Layout

__all__ = ["Entry", "Ledger", "Placed"]

VERSION = 1


@dataclass(frozen=True, slots=True)
class Placed:
    """One file lamina created, as it was when lamina created it."""

    path: str
    dev: int
    ino: int
    size: int

    @classmethod
    def of(cls, path: Path) -> Placed:
        st = os.lstat(path)
        return cls(str(path), st.st_dev, st.st_ino, st.st_size)

    def still_ours(self) -> bool:
        """Whether the path still names the very file lamina placed."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) == (self.dev, self.ino)


@dataclass(slots=True)
class Entry:
    """What one export of one model into one folder placed."""

    target: str
    root: str
    model: str
    files: list[Placed] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.target, self.root, self.model

    def to_json(self) -> dict[str, object]:
        return {
            "target": self.target, "root": self.root, "model": self.model,
            "files": [vars_of(p) for p in self.files], "dirs": list(self.dirs),
        }  # fmt: skip


def vars_of(placed: Placed) -> dict[str, object]:
    return {"path": placed.path, "dev": placed.dev, "ino": placed.ino, "size": placed.size}


class Ledger:
    """The exports ledger of one store; use :meth:`editing` to change it."""

    def __init__(self, layout: Layout) -> None:
        self.path = layout.state / "exports.json"
        self.lock_path = layout.locks / "exports.lock"
        self.entries: list[Entry] = []

    @contextlib.contextmanager
    def editing(self) -> Iterator[Ledger]:
        """Hold the ledger's lock, read it, and write it back, also when the block fails: an
        export that stops halfway (a full disk) has recorded what it placed, so ``--remove``
        can still take it away."""
        from .. import locks

        with storage_errors(self.lock_path):
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with locks.exclusive(self.lock_path):
            self.entries = self._read()
            try:
                yield self
            except BaseException:
                with contextlib.suppress(Exception):  # the block's error is the one to tell
                    self._write()
                raise
            self._write()

    def read(self) -> Ledger:
        """Read the ledger without changing it."""
        self.entries = self._read()
        return self

    def find(self, target: str, root: Path, model: str) -> Entry | None:
        key = (target, str(root), model)
        return next((e for e in self.entries if e.key == key), None)

    def put(self, entry: Entry) -> None:
        """Record ``entry``, replacing the one with the same target, folder and model."""
        self.entries = [e for e in self.entries if e.key != entry.key] + [entry]

    def drop(self, entry: Entry) -> None:
        self.entries = [e for e in self.entries if e.key != entry.key]

    def owner_of(self, path: Path, *, besides: Entry | None = None) -> Entry | None:
        """The entry (other than ``besides``) that placed the file at ``path``, if any."""
        text = str(path)
        for entry in self.entries:
            if entry is besides or (besides is not None and entry.key == besides.key):
                continue
            if any(p.path == text and p.still_ours() for p in entry.files):
                return entry
        return None

    def _read(self) -> list[Entry]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError.from_oserror(exc, self.path) from exc
        try:
            document = json.loads(data)
            return [_entry(item) for item in document["exports"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                str(self.path), f"the exports ledger is damaged ({exc}); move it aside to start "
                "a new one (lamina then no longer knows which exported files are its own)"
            ) from exc

    def _write(self) -> None:
        document = {"version": VERSION, "exports": [e.to_json() for e in self.entries]}
        data = (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()
        from .placing import write_atomically

        write_atomically(self.path, data)


def _entry(item: dict[str, object]) -> Entry:
    files = item["files"]
    dirs = item["dirs"]
    assert isinstance(files, list) and isinstance(dirs, list)
    return Entry(
        str(item["target"]), str(item["root"]), str(item["model"]),
        [Placed(str(f["path"]), int(f["dev"]), int(f["ino"]), int(f["size"])) for f in files],
        [str(d) for d in dirs],
    )  # fmt: skip
