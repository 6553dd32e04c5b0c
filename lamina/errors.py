"""The one table that turns errors into messages, JSON error codes and exit codes.

Exit codes, the same for every command:

    0    success
    1    the operation failed, or lint found errors (a missing input file is 1 too)
    2    usage error: an unknown flag, a missing or malformed argument
    130  interrupted (Ctrl-C)

Library errors are matched by class, most specific first. A class is looked up only in a package
already imported: an error cannot come from a package nothing has loaded, and importing the
language package (its parser) or the store just to compare classes would slow every command.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import click

SUCCESS, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


class Explained(NamedTuple):
    """What the user sees for one error: a message, a stable code for scripts, an exit code."""

    message: str
    code: str
    exit_code: int


# (package, class name, JSON error code): most specific first.
_LIBRARY_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("registry.errors", "Unauthorized", "unauthorized"),
    ("registry.errors", "Denied", "denied"),
    ("registry.errors", "NotFound", "not_found_on_registry"),
    ("registry.errors", "RemoteDigestMismatch", "digest_mismatch"),
    ("registry.errors", "TransportError", "registry_unreachable"),
    ("registry.errors", "RegistryError", "registry_error"),
    ("registry.reference", "InvalidReference", "invalid_name"),
    ("registry.client.credentials", "CredentialsError", "credentials_error"),
    ("lamina.transfer", "LockError", "lock_invalid"),
    ("store.hub.errors", "HubSelectionError", "hub_no_model"),
    ("store.hub.errors", "HubUnauthorized", "hub_unauthorized"),
    ("store.hub.errors", "HubNotFound", "hub_not_found"),
    ("store.hub.errors", "HubUnreachable", "hub_unreachable"),
    ("store.hub.errors", "HubError", "hub_error"),
    ("store", "ModelNotFound", "model_not_found"),
    ("store", "BlobNotFound", "blob_not_found"),
    ("store", "BlobInvalid", "blob_invalid"),
    ("store", "InvalidName", "invalid_name"),
    ("ocitypes", "InvalidDigest", "invalid_digest"),
    ("store", "DigestMismatch", "digest_mismatch"),
    ("store", "ManifestBlobUnknown", "manifest_blob_unknown"),
    ("store", "ManifestInvalid", "manifest_invalid"),
    ("ocitypes", "ManifestInvalid", "manifest_invalid"),
    ("ocitypes", "InvalidJSON", "invalid_json"),
    ("store", "GGUFError", "invalid_gguf"),
    ("store", "SourceChanged", "source_changed"),
    ("store", "CreateError", "create_failed"),
    ("store.bundle.ocilayout", "BundleInvalid", "bundle_invalid"),
    ("store.export.errors", "ExportConflict", "export_conflict"),
    ("store.export.errors", "ExportError", "export_failed"),
    ("store", "StorageError", "storage_error"),
    ("store", "StoreError", "store_error"),
    ("ocitypes", "OCIError", "oci_error"),
    ("registry.server", "CredentialsError", "invalid_auth_file"),
    ("modelfile", "ModelfileSyntaxError", "modelfile_syntax_error"),
    ("modelfile", "ModelfileInvalid", "modelfile_invalid"),
    ("modelfile", "ModelfileError", "modelfile_error"),
)

ERROR_CODES: tuple[str, ...] = (
    *dict.fromkeys(code for _, _, code in _LIBRARY_ERRORS),
    "file_not_found", "os_error", "usage_error", "lock_mismatch", "interrupted", "internal_error",
)  # fmt: skip
"""Every ``error.code`` a ``--json`` error may carry."""


def explain(error: BaseException) -> Explained:
    """How lamina reports ``error``; anything unforeseen is an internal error, never a trace."""
    if isinstance(error, KeyboardInterrupt):
        return Explained("interrupted; nothing was published", "interrupted", INTERRUPTED)
    if isinstance(error, click.UsageError):
        return Explained(error.format_message(), "usage_error", USAGE)
    for package, name, code in _LIBRARY_ERRORS:
        kind = getattr(sys.modules.get(package), name, None)
        if isinstance(kind, type) and isinstance(error, kind):
            return Explained(str(error), code, FAILED)
    if isinstance(error, FileNotFoundError):
        return Explained(_os_message(error), "file_not_found", FAILED)
    if isinstance(error, OSError):
        return Explained(_os_message(error), "os_error", FAILED)
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return Explained(f"internal error ({detail}); please report it", "internal_error", FAILED)


def _os_message(error: OSError) -> str:
    from store.errors import advice_for  # the store's one table of what an OSError means

    reason = advice_for(error)
    return f"{error.filename}: {reason}" if error.filename is not None else reason
