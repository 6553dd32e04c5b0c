"""Exporting models into other tools' folders (Ollama, LM Studio) without copying weights, and
removing exactly what an export placed, as the ledger records it.

    from store.export import ollama
    ollama.export(store, "gemma3-chat", ollama.default_root())
"""

from __future__ import annotations

from .common import ExportResult, PlacedFile, RemoveResult
from .errors import ExportConflict, ExportError, ExportUnsupported

__all__ = [
    "ExportConflict",
    "ExportError",
    "ExportResult",
    "ExportUnsupported",
    "PlacedFile",
    "RemoveResult",
]
