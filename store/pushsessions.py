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
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from ocitypes import Digest

from ._sqlite import DatabaseUnusable, connect

if TYPE_CHECKING:
    import sqlite3

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

    def session(self, digest: Digest, registry: str, repository: str) -> str | None:
        """The last ``Location`` of an unfinished upload of ``digest``, if one is known."""
        if not self.path.exists():
            return None
        try:
            with self._connect() as db:
                row = db.execute(
                    "SELECT location FROM sessions WHERE digest = ? AND registry = ? "
                    "AND repository = ?", (str(digest), registry.lower(), repository),
                ).fetchone()
        except DatabaseUnusable:
            return None  # advice only: without it the push starts a new session
        return None if row is None else str(row[0])

    def save_session(self, digest: Digest, registry: str, repository: str,
                     location: str) -> None:
        """Remember the session's latest ``Location`` (best effort)."""
        with contextlib.suppress(DatabaseUnusable), self._connect(create=True) as db:
            db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?)",
                       (str(digest), registry.lower(), repository, location))
        with contextlib.suppress(OSError):  # a Location may carry a registry's state token
            os.chmod(self.path, 0o600)

    def drop_session(self, digest: Digest, registry: str, repository: str) -> None:
        """Forget the session: it finished, or the registry no longer knows it."""
        if not self.path.exists():
            return
        with contextlib.suppress(DatabaseUnusable), self._connect() as db:
            db.execute("DELETE FROM sessions WHERE digest = ? AND registry = ? "
                       "AND repository = ?", (str(digest), registry.lower(), repository))

    def _connect(self, *, create: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path, _SCHEMA, create=create)
