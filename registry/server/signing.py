"""Short-lived HMAC signatures: Bearer tokens and the signed blob URLs Ollama's pull needs.

Ollama resolves a blob's "direct URL" once and then fetches ranges of it in parallel without
its Authorization header (as from a CDN), so that URL must carry its own proof: an expiry and
an HMAC over what it grants. Tokens are the same idea for the Bearer flow: a JSON payload, its
expiry and an HMAC, all base64url. The secret is per server process unless one is given, so a
restart revokes every token and URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable

Clock = Callable[[], float]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Makes and checks signed, expiring values with one secret."""

    def __init__(self, secret: bytes | None = None, *, clock: Clock = time.time) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def _mac(self, text: str) -> str:
        return _b64(hmac.new(self._secret, text.encode("utf-8"), hashlib.sha256).digest())

    def token(self, payload: dict[str, object], ttl: float) -> str:
        """A token holding ``payload`` until ``ttl`` seconds from now."""
        body = _b64(json.dumps({**payload, "exp": int(self.now() + ttl)},
                               separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._mac('token:' + body)}"

    def open_token(self, token: str) -> dict[str, object] | None:
        """The payload of a genuine, unexpired token, else None."""
        body, _, mac = token.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac("token:" + body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(payload, dict):
            return None
        expires = payload.get("exp")
        if not isinstance(expires, int) or expires < self.now():
            return None
        return payload

    def blob_query(self, repository: str, digest: str, ttl: float) -> str:
        """The query string that lets anyone GET this blob of this repository for ``ttl`` s."""
        expires = int(self.now() + ttl)
        return f"expires={expires}&signature={self._blob_mac(repository, digest, expires)}"

    def blob_allowed(self, repository: str, digest: str, expires: str, signature: str) -> bool:
        """Whether a signed blob URL is genuine and unexpired."""
        if not expires.isdigit() or int(expires) < self.now():
            return False
        expected = self._blob_mac(repository, digest, int(expires))
        return hmac.compare_digest(signature, expected)

    def _blob_mac(self, repository: str, digest: str, expires: int) -> str:
        return self._mac(f"blob:{repository}:{digest}:{expires}")
