"""lamina's local content-addressed store, laid out exactly like Ollama's models folder.

    <root>/blobs/sha256-<hex>                              every blob, once
    <root>/manifests/<host>/<namespace>/<model>/<tag>      one manifest per model name

A model is a manifest: a config blob plus layers (weights, template, system, licenses,
params, messages), each addressed by its SHA-256.
"""

from .blobs import BlobStore, ImportResult
from .config import ModelConfig
from .create import CreateResult, Reporter, create
from .digest import Digest
from .errors import (
    BlobNotFound,
    CreateError,
    DigestMismatch,
    GGUFError,
    InvalidDigest,
    InvalidName,
    ModelNotFound,
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
from .manifest import Descriptor, Manifest
from .models import ModelEntry, Store, default_root
from .names import Name

__all__ = [
    "GRACE_SECONDS",
    "LICENSE_HEAD_LINES",
    "BlobNotFound",
    "BlobStore",
    "CreateError",
    "CreateResult",
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
    "ModelConfig",
    "ModelDiff",
    "ModelEntry",
    "ModelInfo",
    "ModelNotFound",
    "Name",
    "Reporter",
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
    "total_blob_bytes",
    "verify",
]
