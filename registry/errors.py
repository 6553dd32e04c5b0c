"""The registry's errors, shared by client and server (distribution-spec §Error Codes).

    RegistryError(status, code, message, detail)   an error answer, or one the client made
    ├── Unauthorized (401)                         no or wrong credentials; says what to run
    ├── Denied (403)                               credentials that may not do this
    ├── NotFound (404)                             manifest, blob or repository unknown
    └── TransportError                             no answer: connection, TLS, timeout
        └── RemoteDigestMismatch (DigestInvalid)   bytes received did not hash to the digest

One :class:`ErrorCode` set serves both sides: the server answers with
:meth:`RegistryError.to_body`, the client turns an answer into an error with
:func:`from_response`, whose body parser accepts anything (a spec-shaped JSON document, other
JSON, HTML, nothing). ``str()`` of every error is a sentence for the user.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from ocitypes import DigestInvalid

__all__ = [
    "Denied",
    "ErrorCode",
    "NotFound",
    "RegistryError",
    "RemoteDigestMismatch",
    "TransportError",
    "Unauthorized",
    "from_response",
]


class ErrorCode(enum.Enum):
    """The spec's codes (code-1 … code-14) and the legacy ones registries still send; the value
    is the code as spelled on the wire."""

    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    RANGE_INVALID = "RANGE_INVALID"
    TAG_INVALID = "TAG_INVALID"
    MANIFEST_UNVERIFIED = "MANIFEST_UNVERIFIED"
    UNKNOWN = "UNKNOWN"

    @property
    def status(self) -> int:
        """The HTTP status a server answers this code with."""
        return _STATUS[self.value]

    @property
    def text(self) -> str:
        """The spec's short description of the code."""
        return _TEXT[self.value]

    @classmethod
    def named(cls, name: str) -> ErrorCode:
        """The code spelled ``name``; UNKNOWN for a code this set does not know."""
        try:
            return cls(name)
        except ValueError:
            return cls.UNKNOWN


_STATUS = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
    "RANGE_INVALID": 416,
    "TAG_INVALID": 400,
    "MANIFEST_UNVERIFIED": 400,
    "UNKNOWN": 500,
}

_TEXT = {
    "BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UPLOAD_INVALID": "blob upload invalid",
    "BLOB_UPLOAD_UNKNOWN": "blob upload unknown to registry",
    "DIGEST_INVALID": "provided digest did not match uploaded content",
    "MANIFEST_BLOB_UNKNOWN": "manifest references a manifest or blob unknown to registry",
    "MANIFEST_INVALID": "manifest invalid",
    "MANIFEST_UNKNOWN": "manifest unknown to registry",
    "NAME_INVALID": "invalid repository name",
    "NAME_UNKNOWN": "repository name not known to registry",
    "SIZE_INVALID": "provided length did not match content length",
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "UNSUPPORTED": "the operation is unsupported",
    "TOOMANYREQUESTS": "too many requests",
    "RANGE_INVALID": "invalid content range",
    "TAG_INVALID": "manifest tag did not match URI",
    "MANIFEST_UNVERIFIED": "manifest failed signature verification",
    "UNKNOWN": "unknown error",
}


@dataclass(eq=False)
class RegistryError(Exception):
    """An error answer: HTTP status, OCI code, message and optional JSON detail."""

    status: int
    code: ErrorCode
    message: str = ""
    detail: object = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.message or self.code.text

    @classmethod
    def of(cls, code: ErrorCode, message: str = "", detail: object = None) -> RegistryError:
        """The error a server answers with for ``code``, at the code's own status."""
        kind = _KIND_BY_STATUS.get(code.status, RegistryError)
        return kind(code.status, code, message or code.text, detail)

    def to_body(self) -> bytes:
        """The spec's JSON body: ``{"errors":[{"code","message","detail"}]}``."""
        entry: dict[str, object] = {"code": self.code.value, "message": str(self)}
        if self.detail is not None:
            entry["detail"] = self.detail
        return json.dumps({"errors": [entry]}, separators=(",", ":")).encode()


class Unauthorized(RegistryError):
    """401: the registry wants credentials, or refused the ones sent."""


class Denied(RegistryError):
    """403: the credentials are good but may not do this."""


class NotFound(RegistryError):
    """404: the manifest, blob or repository is not there."""


class TransportError(RegistryError):
    """The registry could not be reached or its answer did not arrive whole."""

    def __init__(self, message: str) -> None:
        super().__init__(0, ErrorCode.UNKNOWN, message)


class RemoteDigestMismatch(TransportError, DigestInvalid):
    """The bytes a registry sent do not hash to the digest asked for: nothing was kept."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{what} from the registry does not match its digest: expected {expected}, "
            f"got {actual}; nothing was stored, run the command again"
        )


_KIND_BY_STATUS: dict[int, type[RegistryError]] = {
    401: Unauthorized,
    403: Denied,
    404: NotFound,
}


def from_response(status: int, body: bytes, what: str = "") -> RegistryError:
    """The error an answer of ``status`` with ``body`` means; ``what`` says what was asked."""
    code, message, detail = _first_error(body)
    if code is None:
        code = _DEFAULT_CODE.get(status, ErrorCode.UNKNOWN)
    text = message or (code.text if code != ErrorCode.UNKNOWN else _unexplained(status))
    if what:
        text = f"{what}: {text} (HTTP {status})"
    kind = _KIND_BY_STATUS.get(status, RegistryError)
    return kind(status, code, text, detail)


def _unexplained(status: int) -> str:
    """Words for an answer that carries no registry error to quote."""
    if status in (404, 501):
        return "not found, and the answer is no registry's error: is the host an OCI registry?"
    if status >= 500:
        return "the registry failed on its side; try again later"
    return "an answer without a registry's error"


_DEFAULT_CODE = {
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.DENIED,
    405: ErrorCode.UNSUPPORTED,
    416: ErrorCode.RANGE_INVALID,
    429: ErrorCode.TOOMANYREQUESTS,
}


def _first_error(body: bytes) -> tuple[ErrorCode | None, str, object]:
    """The first entry of a spec-shaped error body; ``(None, "", None)`` for any other body."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, "", None
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, "", None
    first = errors[0]
    code = first.get("code")
    message = first.get("message")
    return (
        ErrorCode.named(code) if isinstance(code, str) else None,
        message if isinstance(message, str) else "",
        first.get("detail"),
    )
