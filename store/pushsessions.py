"""Upload sessions an unfinished push left on registries: ``registry.protocols.PushSessions``.

A push of a large blob sends it in chunks; when one fails (a dropped connection, a kill), the
registry may still hold the chunks before it. The pusher records each session's latest
``Location`` here, so a rerun asks the registry how far it got and sends only the rest. One
SQLite file (``.lamina/push-sessions.sqlite``), opened as the provenance ledger is; advice, not
truth: a registry forgets sessions, and then the push simply starts a new one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ocitypes import Digest

from ._sqlite import AdviceFile

__all__ = ["PushSessionLedger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT NOT NULL,
    registry TEXT NOT NULL,
    repository TEXT NOT NULL,
    location TEXT NOT NULL,
    PRIMARY KEY (digest, registry, repository)
)
"""


class PushSessionLedger:
    """Unfinished upload sessions by blob, registry and repository; satisfies ``PushSessions``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = AdviceFile(path, _SCHEMA)

    def session(self, digest: Digest, registry: str, repository: str) -> str | None:
        """The last ``Location`` of an unfinished upload of ``digest``, if one is known."""
        rows = self._file.rows(
            "SELECT location FROM sessions WHERE digest = ? AND registry = ? AND repository = ?",
            (str(digest), registry.lower(), repository),
        )
        return str(rows[0][0]) if rows else None  # none: the push starts a new session

    def save_session(self, digest: Digest, registry: str, repository: str,
                     location: str) -> None:
        """Remember the session's latest ``Location`` (best effort)."""
        self._file.write("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?)",
                         (str(digest), registry.lower(), repository, location), create=True)
        with contextlib.suppress(OSError):  # a Location may carry a registry's state token
            os.chmod(self.path, 0o600)

    def drop_session(self, digest: Digest, registry: str, repository: str) -> None:
        """Forget the session: it finished, or the registry no longer knows it."""
        self._file.write("DELETE FROM sessions WHERE digest = ? AND registry = ? "
                         "AND repository = ?", (str(digest), registry.lower(), repository))
