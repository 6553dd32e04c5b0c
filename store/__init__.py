"""lamina's local content-addressed store, laid out exactly like Ollama's models folder.

    <root>/blobs/sha256-<hex>                              every blob, once
    <root>/manifests/<host>/<namespace>/<model>/<tag>      one manifest per model name

A model is a manifest: a config blob plus layers (weights, template, system, licenses,
params, messages), each addressed by its SHA-256.

Importing ``store`` loads none of its modules: each name below is loaded on first use, so that
``lamina list`` does not pay for ``create``'s or ``gc``'s code.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocitypes import Descriptor, Digest, InvalidDigest, Manifest

    from .blobs import BlobStore, ImportResult
    from .config import ModelConfig
    from .create import CreateResult, Reporter, create, template_warnings
    from .errors import (
        BlobInvalid,
        BlobNotFound,
        CreateError,
        DigestMismatch,
        GGUFError,
        InvalidName,
        ManifestBlobUnknown,
        ManifestInvalid,
        ModelNotFound,
        ParentNotFound,
        SourceChanged,
        StorageError,
        StoreError,
    )
    from .gguf import GGUFInfo, read_info
    from .inspect import LICENSE_HEAD_LINES, ModelDiff, ModelInfo, diff, rebuild_modelfile, show
    from .layout import Layout
    from .link import LinkMethod
    from .maintenance import (
        GRACE_SECONDS,
        DiskUsage,
        GcReport,
        VerifyReport,
        du,
        gc,
        total_blob_bytes,
        verify,
    )
    from .models import Copy, DamagedEntry, ModelEntry, Removal, Store, default_root
    from .names import Name
    from .provenance import ProvenanceLedger
    from .repositories import Repositories, RepositoryInvalid

# module -> the public names it defines
_EXPORTS: dict[str, tuple[str, ...]] = {
    "blobs": ("BlobStore", "ImportResult"),
    "config": ("ModelConfig",),
    "create": ("CreateResult", "Reporter", "create", "template_warnings"),
    "errors": (
        "BlobInvalid", "BlobNotFound", "CreateError", "DigestMismatch", "GGUFError", "InvalidName",
        "ManifestBlobUnknown", "ManifestInvalid", "ModelNotFound", "ParentNotFound",
        "SourceChanged", "StorageError", "StoreError",
    ),
    "gguf": ("GGUFInfo", "read_info"),
    "inspect": (
        "LICENSE_HEAD_LINES", "ModelDiff", "ModelInfo", "diff", "rebuild_modelfile", "show",
    ),
    "layout": ("Layout",),
    "link": ("LinkMethod",),
    "maintenance": (
        "GRACE_SECONDS", "DiskUsage", "GcReport", "VerifyReport", "du", "gc", "total_blob_bytes",
        "verify",
    ),
    "ocitypes": ("Descriptor", "Digest", "InvalidDigest", "Manifest"),
    "models": ("Copy", "DamagedEntry", "ModelEntry", "Removal", "Store", "default_root"),
    "names": ("Name",),
    "provenance": ("ProvenanceLedger",),
    "repositories": ("Repositories", "RepositoryInvalid"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> object:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'store' has no attribute {name!r}")
    value = getattr(_load(module), name)
    globals()[name] = value
    return value


def _load(module: str) -> types.ModuleType:
    # The OCI vocabulary lives in the shared leaf package; the store re-exports it.
    if module == "ocitypes":
        return importlib.import_module("ocitypes")
    return importlib.import_module(f".{module}", __name__)


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        # Python binds each submodule on its package when it first loads; ``store.create`` must
        # stay the function however the ``create`` module came to be loaded.
        if isinstance(value, types.ModuleType) and _HOME.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "GRACE_SECONDS",
    "LICENSE_HEAD_LINES",
    "BlobInvalid",
    "BlobNotFound",
    "BlobStore",
    "Copy",
    "CreateError",
    "CreateResult",
    "DamagedEntry",
    "Descriptor",
    "Digest",
    "DigestMismatch",
    "DiskUsage",
    "GGUFError",
    "GGUFInfo",
    "GcReport",
    "ImportResult",
    "InvalidDigest",
    "InvalidName",
    "Layout",
    "LinkMethod",
    "Manifest",
    "ManifestBlobUnknown",
    "ManifestInvalid",
    "ModelConfig",
    "ModelDiff",
    "ModelEntry",
    "ModelInfo",
    "ModelNotFound",
    "Name",
    "ParentNotFound",
    "ProvenanceLedger",
    "Removal",
    "Reporter",
    "Repositories",
    "RepositoryInvalid",
    "SourceChanged",
    "StorageError",
    "Store",
    "StoreError",
    "VerifyReport",
    "create",
    "default_root",
    "diff",
    "du",
    "gc",
    "read_info",
    "rebuild_modelfile",
    "show",
    "template_warnings",
    "total_blob_bytes",
    "verify",
]
