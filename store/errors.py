"""Errors raised by the store.

    StoreError
    ├── InvalidName (also ValueError)        a model name that breaks Ollama's rules
    ├── InvalidDigest (also ValueError)      text that is not ``sha256:<64 hex>``
    ├── ModelNotFound (also LookupError)     no manifest under that name
    ├── BlobNotFound (also LookupError)      a manifest names a blob the store lacks
    ├── DigestMismatch                       bytes did not hash to what was promised
    ├── GGUFError (also ValueError)          a file is not a GGUF, or a truncated or damaged one
    ├── SourceChanged                        a linked source file was edited under the store
    ├── CreateError (also ValueError)        a Modelfile that cannot become a model
    └── StorageError                         the disk said no (full, read-only, permission)

Messages are meant for users: each names the file or model and says what to do.
"""

from __future__ import annotations


class StoreError(Exception):
    """Root of every error the store raises."""


class InvalidName(StoreError, ValueError):
    def __init__(self, name: str, reason: str = "") -> None:
        self.name = name
        self.reason = reason
        detail = f" ({reason})" if reason else ""
        super().__init__(f"invalid model name: {name!r}{detail}")


class InvalidDigest(StoreError, ValueError):
    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(f"invalid digest {text!r}: expected sha256:<64 lowercase hex digits>")


class ModelNotFound(StoreError, LookupError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"model '{name}' not found (see 'lamina list')")


class BlobNotFound(StoreError, LookupError):
    def __init__(self, digest: str) -> None:
        self.digest = digest
        super().__init__(f"blob {digest} is missing from the store (run 'lamina verify')")


class DigestMismatch(StoreError):
    def __init__(self, expected: str, actual: str, *, what: str = "") -> None:
        self.expected = expected
        self.actual = actual
        where = f"{what}: " if what else ""
        super().__init__(f"{where}digest mismatch, expected {expected}, got {actual}")


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


class StorageError(StoreError):
    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")
