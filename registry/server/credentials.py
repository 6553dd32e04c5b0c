"""Who a request comes from: Basic credentials checked against a bcrypt htpasswd file, or an
Ollama client's ed25519 key listed in an authorized-keys file.

Ollama signs its token request with the key in ``~/.ollama/id_ed25519``: the header is
``Authorization: <public key, SSH wire format, base64>:<base64 signature>`` and the signature
covers ``GET,<the token URL as sent>,<base64 of the hex SHA-256 of an empty body>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import time
from collections import OrderedDict
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EMPTY_BODY = base64.b64encode(hashlib.sha256(b"").hexdigest().encode("ascii")).decode("ascii")
"""The last field of the string Ollama signs: it signs GETs, whose body is empty."""

TIMESTAMP_SLACK = 300.0
"""How far an Ollama token request's ``ts`` may be from the server's clock, in seconds."""


class CredentialsError(ValueError):
    """A credentials file that cannot be used; the message names the file and the line."""


class Htpasswd:
    """``user:bcrypt-hash`` lines (``htpasswd -B``); other hash kinds are refused on load."""

    def __init__(self, users: dict[str, bytes]) -> None:
        self._users = users
        # bcrypt costs ~0.1-0.3 s a check; a client sending Basic on every request would stall,
        # so a password once verified is remembered, by a hash of it, while the process lives.
        self._verified: OrderedDict[bytes, str] = OrderedDict()

    @classmethod
    def load(cls, path: Path) -> Htpasswd:
        users: dict[str, bytes] = {}
        text = _read(path)
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not user or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise CredentialsError(
                    f"{path}:{number}: expected user:bcrypt-hash (make one with htpasswd -B)")
            users[user] = hashed.encode("ascii", "replace")
        return cls(users)

    def check(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s."""
        import bcrypt

        hashed = self._users.get(user)
        if hashed is None:
            return False
        key = hashlib.sha256(b"%s\0%s\0%s" % (user.encode(), password.encode(), hashed)).digest()
        if self._verified.get(key) == user:
            return True
        try:
            good = bcrypt.checkpw(password.encode("utf-8"), hashed)
        except ValueError:
            return False
        if good:
            self._verified[key] = user
            while len(self._verified) > 1024:
                self._verified.popitem(last=False)
        return good


class AuthorizedKeys:
    """``ssh-ed25519 <base64> [comment]`` lines; a key's identity is its comment, else
    ``key:<SHA256 fingerprint>`` as ``ssh-keygen -l`` prints it."""

    def __init__(self, keys: dict[bytes, str]) -> None:
        self._keys = keys
        self._nonces: OrderedDict[str, float] = OrderedDict()

    @classmethod
    def load(cls, path: Path) -> AuthorizedKeys:
        keys: dict[bytes, str] = {}
        for number, line in enumerate(_read(path).splitlines(), 1):
            fields = line.split(None, 2)
            if not fields or fields[0].startswith("#"):
                continue
            if fields[0] != "ssh-ed25519" or len(fields) < 2:
                raise CredentialsError(f"{path}:{number}: only ssh-ed25519 keys are supported")
            try:
                wire = base64.b64decode(fields[1], validate=True)
                _ed25519(wire)
            except (binascii.Error, ValueError) as exc:
                raise CredentialsError(f"{path}:{number}: not a valid ssh-ed25519 key") from exc
            keys[wire] = fields[2].strip() if len(fields) > 2 else fingerprint(wire)
        return cls(keys)

    def identify(self, header: str, url: str, ts: str, nonce: str) -> str | None:
        """The identity whose key signed this token request, or None."""
        key_text, sep, signature_text = header.strip().partition(":")
        if not sep:
            return None
        try:
            wire = base64.b64decode(key_text, validate=True)
            signature = base64.b64decode(signature_text, validate=True)
        except (binascii.Error, ValueError):
            return None
        name = self._keys.get(wire)
        if name is None or not self._fresh(ts, nonce):
            return None
        try:
            _ed25519(wire).verify(signature, f"GET,{url},{EMPTY_BODY}".encode())
        except (InvalidSignature, ValueError):
            return None
        self._nonces[nonce] = time.time()
        while len(self._nonces) > 4096:
            self._nonces.popitem(last=False)
        return name

    def _fresh(self, ts: str, nonce: str) -> bool:
        """A request signed recently, whose nonce was not seen before (no replays)."""
        if not ts.isdigit() or abs(int(ts) - time.time()) > TIMESTAMP_SLACK:
            return False
        return bool(nonce) and nonce not in self._nonces


def fingerprint(wire: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(wire).digest()).decode().rstrip("=")
    return f"key:SHA256:{digest}"


def _ed25519(wire: bytes) -> Ed25519PublicKey:
    """The key in an SSH wire-format ``ssh-ed25519`` public key blob."""
    fields: list[bytes] = []
    offset = 0
    while offset < len(wire):
        if offset + 4 > len(wire):
            raise ValueError("truncated key")
        (size,) = struct.unpack_from(">I", wire, offset)
        fields.append(wire[offset + 4: offset + 4 + size])
        offset += 4 + size
    if len(fields) != 2 or fields[0] != b"ssh-ed25519" or len(fields[1]) != 32:
        raise ValueError("not an ssh-ed25519 key")
    return Ed25519PublicKey.from_public_bytes(fields[1])


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"{path}: cannot read it ({exc})") from exc
