"""The modes of users' files the store made read-only, so they come back when the store lets go.

``create`` hard-links a user's GGUF into ``blobs/`` and makes the shared inode read-only (0444)
so that an edit fails loudly instead of corrupting a model. Once no model needs the blob and it
is deleted (rm, gc, a create's prune), the file is the user's alone again and gets its mode
back. One tiny file per blob under ``.lamina/modes/`` holds the mode and the inode it was taken
from; it is written under the blob lock at import and read under the store lock at removal, so
it needs no lock of its own. Best effort: a mode that cannot be restored leaves the file
read-only, as it was before this ledger existed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from ocitypes import Digest

from .layout import Layout

__all__ = ["forget", "record", "restore"]


def record(layout: Layout, digest: Digest, original: os.stat_result) -> None:
    """Remember the mode ``original`` had before the store made its inode ``digest``'s blob."""
    path = layout.mode_record(digest)
    text = f"{stat.S_IMODE(original.st_mode):o} {original.st_dev} {original.st_ino}\n"
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(text, encoding="ascii")
        os.replace(temp, path)


def restore(layout: Layout, digest: Digest) -> None:
    """Before ``digest``'s blob is deleted: give a user's file sharing its inode its mode back."""
    path = layout.mode_record(digest)
    try:
        mode_text, dev, ino = path.read_text(encoding="ascii").split()
        blob = os.stat(layout.blob(digest))
        # only the very inode recorded, and only while a name outside the store holds it
        if (blob.st_dev, blob.st_ino) == (int(dev), int(ino)) and blob.st_nlink > 1:
            os.chmod(layout.blob(digest), int(mode_text, 8))
    except (OSError, ValueError):
        pass  # no record, a damaged one, or a file we may not chmod: it stays as it is
    forget(layout, digest)


def forget(layout: Layout, digest: Digest) -> None:
    """Drop the record (the blob is gone, or the import did not publish)."""
    with contextlib.suppress(OSError):
        Path(layout.mode_record(digest)).unlink(missing_ok=True)
