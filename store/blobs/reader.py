"""Reading the blobs folder: a blob's size and bytes, every digest stored, stale temp files."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ocitypes import Digest

from ..errors import BlobNotFound, StorageError
from ..layout import TEMP_PREFIX, Layout
from ..link import fsync_dir


class BlobReader:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def stat(self, digest: Digest) -> os.stat_result:
        with self.errors(digest):
            return os.stat(self.layout.blob(digest))

    def open(self, digest: Digest) -> BinaryIO:
        with self.errors(digest):
            return open(self.layout.blob(digest), "rb")

    def read_bytes(self, digest: Digest) -> bytes:
        with self.errors(digest):
            return self.layout.blob(digest).read_bytes()

    def remove(self, digest: Digest) -> None:
        with self.errors(digest):
            self.layout.blob(digest).unlink()
            fsync_dir(self.layout.blobs)

    def digests(self) -> Iterator[Digest]:
        for path in self._entries():
            digest = self.layout.digest_of_blob_file(path)
            if digest is not None and path.is_file():
                yield digest

    def stale_temps(self, *, older_than: float) -> list[Path]:
        cutoff = time.time() - older_than
        stale = []
        for path in self._entries():
            if not path.name.startswith(TEMP_PREFIX):
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.lstat().st_ctime <= cutoff:
                    stale.append(path)
        return stale

    @contextlib.contextmanager
    def errors(self, digest: Digest) -> Iterator[None]:
        """A missing blob is ``BlobNotFound``; any other refusal a ``StorageError``."""
        try:
            yield
        except FileNotFoundError as exc:
            raise BlobNotFound(str(digest)) from exc
        except OSError as exc:
            raise StorageError.from_oserror(exc, self.layout.blob(digest)) from exc

    def _entries(self) -> Iterator[Path]:
        try:
            names = os.listdir(self.layout.blobs)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError.from_oserror(exc, self.layout.blobs) from exc
        for name in sorted(names):
            yield self.layout.blobs / name
