"""SHA-256 digests as a small frozen value type.

A digest is always spelled ``sha256:<64 lower-case hex>``: the OCI spec allows other algorithms
and upper case nowhere that lamina reads. Only the store's layout knows the on-disk file spelling
``sha256-<hex>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidDigest

_HEX = re.compile(r"[0-9a-f]{64}")
PREFIX = "sha256:"


@dataclass(frozen=True, order=True, slots=True)
class Digest:
    hex: str

    def __post_init__(self) -> None:
        if _HEX.fullmatch(self.hex) is None:
            raise InvalidDigest(self.hex)

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Exactly ``sha256:<64 lower-case hex>``: no blanks, no upper case, no ``sha256-``."""
        if not text.startswith(PREFIX) or _HEX.fullmatch(text, len(PREFIX)) is None:
            raise InvalidDigest(text)
        return cls(text[len(PREFIX):])

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
        return f"{PREFIX}{self.hex}"
