"""Errors raised by the store.

    StoreError
    ├── InvalidName (also ValueError)        a model name that breaks Ollama's rules, or one
    │                                        the disk cannot hold           (NAME_INVALID)
    ├── ModelNotFound (also LookupError)     no manifest under that name    (registry: NAME_UNKNOWN,
    │                                                                        MANIFEST_UNKNOWN)
    ├── BlobNotFound (also LookupError)      a blob the store lacks         (BLOB_UNKNOWN)
    ├── DigestMismatch (also ValueError)     bytes did not hash as promised (DIGEST_INVALID)
    ├── ManifestInvalid (also ValueError)    a manifest that cannot be read (MANIFEST_INVALID)
    │   └── ManifestBlobUnknown              a manifest naming a blob the store lacks
    │                                                                       (MANIFEST_BLOB_UNKNOWN)
    ├── BlobInvalid (also ValueError)        a config/params/messages blob that is not its JSON
    ├── UploadNotFound (also LookupError)    no upload session with that id  (BLOB_UPLOAD_UNKNOWN)
    ├── PartialRangeInvalid (also ValueError) a part outside a partial blob, or over written bytes
    ├── PartialIncomplete (also ValueError)  a partial blob committed with bytes still missing
    ├── GGUFError (also ValueError)          a file is not a GGUF, or a truncated or damaged one
    ├── SourceChanged                        a linked source file was edited under the store
    ├── CreateError (also ValueError)        a Modelfile that cannot become a model
    │   └── ParentNotFound (also LookupError) FROM names a model the store lacks (pull it)
    └── StorageError                         the disk said no (full, read-only, permission, …)

The classes a registry must tell apart also derive from ``ocitypes``' errors (``NameInvalid``,
``BlobUnknown``, ``ManifestUnknown``, ``DigestInvalid``, ``ManifestInvalid``,
``ManifestBlobUnknown``), so the registry maps them to distribution-spec codes without
importing the store.

Messages are meant for users: each names the file or model and says what to do. Every
``OSError`` becomes a ``StorageError`` through one table (:func:`StorageError.from_oserror`),
which keeps the ``errno`` for callers that must tell them apart.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from ocitypes import errors as oci


class StoreError(Exception):
    """Root of every error the store raises."""


class InvalidName(StoreError, oci.NameInvalid):
    def __init__(self, name: str, reason: str = "") -> None:
        self.name = name
        self.reason = reason
        detail = f" ({reason})" if reason else ""
        super().__init__(f"invalid model name: {name!r}{detail}")


class ModelNotFound(StoreError, oci.ManifestUnknown):
    def __init__(self, name: str, reason: str = "") -> None:
        self.name = name
        self.reason = reason
        why = f": {reason}" if reason else " (see 'lamina list')"
        super().__init__(f"model '{name}' not found{why}")


class BlobNotFound(StoreError, oci.BlobUnknown):
    def __init__(self, digest: str) -> None:
        self.digest = digest
        super().__init__(f"blob {digest} is missing from the store (run 'lamina verify')")


class DigestMismatch(StoreError, oci.DigestInvalid):
    def __init__(self, expected: str, actual: str, *, what: str = "") -> None:
        self.expected = expected
        self.actual = actual
        where = f"{what}: " if what else ""
        super().__init__(f"{where}digest mismatch, expected {expected}, got {actual}")


class ManifestInvalid(StoreError, oci.ManifestInvalid):
    """A manifest's bytes are not a manifest lamina can read; ``where`` names its file or name."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        oci.ManifestInvalid.__init__(self, problem, where)


class ManifestBlobUnknown(ManifestInvalid, oci.ManifestBlobUnknown):
    """A manifest names a blob the store does not have, so it cannot be published."""

    def __init__(self, where: str, digest: str) -> None:
        self.digest = digest
        super().__init__(
            where,
            f"names blob {digest}, which is not in the store; add the blob first",
        )


class BlobInvalid(StoreError, ValueError):
    """A stored config, params or messages blob whose bytes are not the JSON its role needs."""


class UploadNotFound(StoreError, oci.UploadUnknown):
    def __init__(self, upload_id: str, reason: str = "") -> None:
        self.upload_id = upload_id
        why = f" ({reason})" if reason else ""
        super().__init__(f"upload {upload_id!r} is unknown{why}; start a new upload")


class PartialRangeInvalid(StoreError, ValueError):
    """A part that does not fit its partial blob, or that would write over finished bytes."""

    def __init__(self, digest: str, start: int, end: int, reason: str) -> None:
        self.digest = digest
        self.start = start
        self.end = end
        super().__init__(f"blob {digest}: cannot write bytes {start}-{end}: {reason}")


class PartialIncomplete(StoreError, ValueError):
    """A partial blob committed while some of its bytes are still missing."""

    def __init__(self, digest: str, missing: int) -> None:
        self.digest = digest
        self.missing = missing
        super().__init__(
            f"blob {digest} still misses {missing} bytes; fetch the missing ranges first"
        )


@contextlib.contextmanager
def blob_json_errors() -> Iterator[None]:
    """Report undecodable JSON read from a stored blob as the store's ``BlobInvalid``."""
    try:
        yield
    except oci.InvalidJSON as exc:
        raise BlobInvalid(str(exc)) from exc


class GGUFError(StoreError, ValueError):
    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class SourceChanged(StoreError):
    def __init__(self, path: str, digest: str) -> None:
        self.path = path
        self.digest = digest
        super().__init__(
            f"{path} changed while lamina was reading it; the store was not touched, run the "
            "command again once the file is stable"
        )


class CreateError(StoreError, ValueError):
    """A Modelfile that is valid text but cannot become a model."""


class ParentNotFound(CreateError, LookupError):
    """FROM names a model the store lacks; ``name`` is as the Modelfile spells it, so a caller
    can pull it and run ``create`` again."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"FROM {name}: no such file, and no model '{name}' in the store; "
            "create it first (see 'lamina list')"
        )


_ADVICE: dict[int, str] = {
    errno.ENOSPC: "the disk is full; free some space and run the command again",
    errno.EDQUOT: "the disk quota is exhausted; free some space and run the command again",
    errno.EROFS: "the file system is read-only; choose a folder on a writable disk",
    errno.EACCES: "permission denied; check who owns this path and its mode",
    errno.EPERM: "operation not permitted; check who owns this path and its mode",
    errno.ENAMETOOLONG: (
        "a file name is too long for the file system (at most 255 bytes per path component); "
        "use a shorter name or path"
    ),
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a part of the path is not a folder; check the path",
    errno.EISDIR: "this is a folder, not a file; give the path of a file",
    errno.ELOOP: "too many symbolic links in the path; check where its links point",
    errno.EXDEV: (
        "the source and the store are on different file systems; lamina copies instead, "
        "or put the store on the same disk (--home)"
    ),
    errno.EMLINK: "the file has too many hard links; lamina copies instead",
    errno.EIO: "input/output error; the disk may be failing, check it and run the command again",
    errno.EBUSY: "the file is busy; close whatever holds it and run the command again",
    errno.ENOLCK: "no locks available; the store's file system does not support locking, "
                  "put the store on a local disk (--home)",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) and run the command again",
}


def advice_for(exc: OSError) -> str:
    """What an ``OSError`` means for the user, and what to do about it."""
    return _ADVICE.get(exc.errno or 0) or exc.strerror or str(exc)


class StorageError(StoreError):
    """The operating system refused a file operation; ``errno`` says which refusal."""

    def __init__(self, path: str, problem: str, *, errno: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.errno = errno
        super().__init__(f"{path}: {problem}")

    @classmethod
    def from_oserror(
        cls, exc: OSError, path: os.PathLike[str] | str, what: str = ""
    ) -> StorageError:
        """The one translation of an ``OSError``: the file involved and what to do about it.

        ``path`` is used when the error names no file; ``what`` says what lamina was doing
        (``"cannot write manifest"``).
        """
        where = exc.filename if isinstance(exc.filename, str | os.PathLike) else path
        advice = advice_for(exc)
        problem = f"{what}: {advice}" if what else advice
        return cls(os.fspath(where), problem, errno=exc.errno)

    @property
    def out_of_space(self) -> bool:
        return self.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def storage_errors(path: os.PathLike[str] | str, what: str = "") -> Iterator[None]:
    """Turn any ``OSError`` raised inside into a ``StorageError`` naming the file involved."""
    try:
        yield
    except OSError as exc:
        raise StorageError.from_oserror(exc, path, what) from exc
