"""The OCI vocabulary lamina's store and registry share: digests, media types, descriptors,
manifests and indexes, and JSON written byte for byte as Go writes it.

Pure: no file or network I/O. Neither ``store`` nor ``registry`` imports the other; both import
this.
"""

from . import gojson, mediatypes
from .digest import Digest
from .errors import (
    BlobUnknown,
    DigestInvalid,
    InvalidDigest,
    InvalidJSON,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    OCIError,
    RangeInvalid,
    UploadUnknown,
)
from .manifest import MAX_MANIFEST_BYTES, Descriptor, Index, Manifest, parse_any

__all__ = [
    "MAX_MANIFEST_BYTES",
    "BlobUnknown",
    "Descriptor",
    "Digest",
    "DigestInvalid",
    "Index",
    "InvalidDigest",
    "InvalidJSON",
    "Manifest",
    "ManifestBlobUnknown",
    "ManifestInvalid",
    "ManifestUnknown",
    "NameInvalid",
    "OCIError",
    "RangeInvalid",
    "UploadUnknown",
    "gojson",
    "mediatypes",
    "parse_any",
]
