"""Errors of the OCI vocabulary.

    OCIError
    ├── InvalidDigest (also ValueError)      text that is not ``sha256:<64 lower-case hex>``
    └── InvalidJSON (also ValueError)        bytes that are not the JSON document expected
        └── ManifestInvalid                  a manifest or index of the wrong shape

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
