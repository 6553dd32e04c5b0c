"""Errors of exporting models into other tools' folders.

    StoreError
    └── ExportError                      an export or its removal cannot be done
        ├── ExportConflict               a file lamina did not write is in the way
        └── ExportUnsupported            the model has nothing the target tool can use
"""

from __future__ import annotations

from ..errors import StoreError


class ExportError(StoreError):
    """An export, or the removal of one, that cannot be done."""


class ExportConflict(ExportError):
    """A different file already sits where lamina would write; ``--force`` replaces it."""

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        super().__init__(
            f"{path}: {what} already exists and differs from lamina's; "
            "pass --force to replace it"
        )


class ExportUnsupported(ExportError):
    """The model holds nothing the target tool can load (no GGUF weights layer)."""
