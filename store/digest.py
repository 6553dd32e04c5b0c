"""SHA-256 digests as a small frozen value type.

In memory a digest is always ``sha256:<hex>``; only ``layout`` knows the on-disk spelling
``sha256-<hex>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidDigest

_PATTERN = re.compile(r"sha256[:-]([0-9a-fA-F]{64})")


@dataclass(frozen=True, order=True, slots=True)
class Digest:
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Accept ``sha256:<hex>`` or Ollama's file spelling ``sha256-<hex>``."""
        match = _PATTERN.fullmatch(text.strip())
        if match is None:
            raise InvalidDigest(text)
        return cls(match.group(1).lower())

    @classmethod
    def of(cls, data: bytes) -> Digest:
        """The digest of ``data``."""
        import hashlib  # here: loading OpenSSL costs milliseconds that reading a store need not

        return cls(hashlib.sha256(data).hexdigest())

    @property
    def short(self) -> str:
        """The first twelve hex digits, as ``lamina list`` shows model IDs."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"sha256:{self.hex}"
