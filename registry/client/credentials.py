"""Registry credentials on disk: lamina's own file (written by ``lamina login``, mode 0600) and
Docker's ``config.json``, both shaped ``{"auths": {"<host>": {"auth": base64("user:pass")}}}``.

A file that names Docker credential helpers (``credsStore`` for every host, ``credHelpers`` per
host) has them asked first, as Docker does (see ``helpers``); ``auths`` is the fallback.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from pathlib import Path

from .auth import Credentials
from .helpers import HELPER_TIMEOUT, helper_credentials, server_address

__all__ = ["CredentialsError", "CredentialsFile", "lookup"]


class CredentialsError(ValueError):
    """A credentials file that cannot be read or written; the message names it."""


class CredentialsFile:
    """One ``{"auths": …}`` file."""

    def __init__(self, path: Path, *, helper_timeout: float = HELPER_TIMEOUT) -> None:
        self.path = path
        self.helper_timeout = helper_timeout

    def _document(self) -> dict[str, object]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(f"cannot read {self.path}: {exc}") from exc
        try:
            document = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise CredentialsError(f"{self.path} is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise CredentialsError(f"{self.path} does not hold a JSON object")
        return document

    def get(self, host: str) -> Credentials | None:
        """The credentials for ``host``: from its credential helper, else saved under its
        plain or URL spelling."""
        document = self._document()
        helper = _helper_for(document, host)
        if helper is not None:
            found = helper_credentials(helper, server_address(host), timeout=self.helper_timeout)
            if found is not None:
                return found
        auths = document.get("auths")
        if not isinstance(auths, dict):
            return None
        for key in _spellings(host):
            entry = auths.get(key)
            if isinstance(entry, dict):
                found = _decode(entry)
                if found is not None:
                    return found
        return None

    def save(self, host: str, credentials: Credentials) -> None:
        """Store ``credentials`` for ``host``: readable by the user alone, replaced atomically."""
        document = self._document()
        auths = document.get("auths")
        if not isinstance(auths, dict):
            auths = document["auths"] = {}
        raw = f"{credentials.username}:{credentials.password}".encode()
        auths[host] = {"auth": base64.b64encode(raw).decode("ascii")}
        self._write(document)

    def remove(self, host: str) -> bool:
        """Forget ``host``; whether anything was there."""
        document = self._document()
        auths = document.get("auths")
        if not isinstance(auths, dict) or host not in auths:
            return False
        del auths[host]
        self._write(document)
        return True

    def _write(self, document: dict[str, object]) -> None:
        data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
        temp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
        except OSError as exc:
            raise CredentialsError(f"cannot write {self.path}: {exc.strerror or exc}") from exc


def _spellings(host: str) -> tuple[str, ...]:
    """The keys Docker's files may file ``host`` under."""
    return (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/",
            f"https://{host}/v2/", *(("https://index.docker.io/v1/",)
                                     if server_address(host) != host else ()))


def _helper_for(document: dict[str, object], host: str) -> str | None:
    """The helper ``credHelpers`` names for ``host``, else ``credsStore``'s, if any."""
    helpers = document.get("credHelpers")
    if isinstance(helpers, dict):
        for key in _spellings(host):
            named = helpers.get(key)
            if isinstance(named, str) and named:
                return named
    default = document.get("credsStore")
    return default if isinstance(default, str) and default else None


def _decode(entry: dict[str, object]) -> Credentials | None:
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, password = base64.b64decode(auth, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return Credentials(user, password) if sep else None
    named, secret = entry.get("username"), entry.get("password")
    if isinstance(named, str) and isinstance(secret, str):
        return Credentials(named, secret)
    return None


def lookup(files: Sequence[CredentialsFile], host: str) -> Credentials | None:
    """The first file's credentials for ``host``; an unreadable Docker file is passed over."""
    for file in files:
        try:
            found = file.get(host)
        except CredentialsError:
            continue
        if found is not None:
            return found
    return None
