"""Errors of the OCI vocabulary.

    OCIError
    ├── InvalidDigest (also ValueError)      text that is not ``sha256:<64 lower-case hex>``
    ├── InvalidJSON (also ValueError)        bytes that are not the JSON document expected
    │   └── ManifestInvalid                  a manifest or index of the wrong shape
    ├── NameInvalid (also ValueError)        a repository or model name that breaks the rules
    ├── BlobUnknown (also LookupError)       no such blob
    ├── ManifestUnknown (also LookupError)   no such manifest, tag or repository
    ├── UploadUnknown (also LookupError)     no such upload session (or it expired)
    ├── DigestInvalid (also ValueError)      bytes did not hash to the digest promised
    ├── ManifestBlobUnknown (also ValueError) a manifest names a blob that is not there
    └── RangeInvalid (also ValueError)       a chunk that does not continue an upload

The store and the registry catch these where bytes come in and turn them into their own errors
(a damaged manifest file, a 400 MANIFEST_INVALID answer).
"""

from __future__ import annotations


class OCIError(Exception):
    """Root of every error the OCI types raise."""


class InvalidDigest(OCIError, ValueError):
    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(f"invalid digest {text!r}: expected sha256:<64 lower-case hex digits>")


class InvalidJSON(OCIError, ValueError):
    """Bytes that do not decode to the JSON document expected; ``what`` names the document."""

    def __init__(self, what: str, problem: str) -> None:
        self.what = what
        self.problem = problem
        super().__init__(f"{what} {problem}")


class ManifestInvalid(InvalidJSON):
    """A manifest or index whose JSON has the wrong shape."""

    def __init__(self, problem: str, what: str = "manifest") -> None:
        super().__init__(what, problem)

    def __str__(self) -> str:
        return f"{self.what}: {self.problem}"


# What the store's answers mean to a registry. The store raises subclasses of these, so the
# registry tells failures apart without importing the store.


class NameInvalid(OCIError, ValueError):
    """A repository or model name that breaks the naming rules, or that the store cannot
    hold (NAME_INVALID)."""


class BlobUnknown(OCIError, LookupError):
    """No blob with that digest (distribution-spec BLOB_UNKNOWN)."""


class ManifestUnknown(OCIError, LookupError):
    """No manifest under that tag or digest (MANIFEST_UNKNOWN; NAME_UNKNOWN for a repository)."""


class DigestInvalid(OCIError, ValueError):
    """Bytes did not hash to the digest promised (DIGEST_INVALID)."""


class ManifestBlobUnknown(OCIError, ValueError):
    """A manifest names a blob that is not there (MANIFEST_BLOB_UNKNOWN)."""


class UploadUnknown(OCIError, LookupError):
    """No upload session with that id, or one that has expired (BLOB_UPLOAD_UNKNOWN)."""


class RangeInvalid(OCIError, ValueError):
    """A chunk that does not start where the upload ends (416 Requested Range Not Satisfiable)."""

    def __init__(self, expected: int, got: int) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"chunk starts at byte {got}, but the upload has {expected} bytes")
