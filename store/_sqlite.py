"""The store's small SQLite files (hash cache, provenance, push sessions), opened one way.

Each connection is short-lived and in autocommit mode; WAL lets readers and one writer of
several lamina processes work at once, and a busy file is waited on rather than failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

BUSY_TIMEOUT = 30.0
"""Seconds to wait for another process's write before giving up."""


class DatabaseUnusable(Exception):
    """The file cannot be opened, read or written just now; ``str`` says why."""


@contextlib.contextmanager
def connect(path: Path, schema: str, *, create: bool, durable: bool = True) -> Iterator[
    sqlite3.Connection
]:
    """A connection to ``path`` with ``schema`` applied; ``DatabaseUnusable`` on any failure.

    ``durable=False`` relaxes fsyncs (``synchronous = NORMAL``), for a file that is only a
    cache: a crash may lose its last entries, never corrupt it.
    """
    import sqlite3  # here: only commands that open these files pay for sqlite3

    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            if not durable:
                db.execute("PRAGMA synchronous = NORMAL")
            db.execute(schema)
            yield db
        finally:
            db.close()
    except (sqlite3.Error, OSError) as exc:
        raise DatabaseUnusable(str(exc)) from exc


class AdviceFile:
    """A SQLite file whose rows are advice, not truth (the provenance ledger, push sessions).

    A missing or unusable file reads as no rows, and a write it cannot take is dropped: the
    callers then do the slower, always-correct thing (ask the registry, start a new session).
    """

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self.schema = schema

    def rows(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        """The rows ``sql`` selects, or none when the file is missing or unusable."""
        if not self.path.exists():
            return []
        try:
            with connect(self.path, self.schema, create=False) as db:
                return [tuple(row) for row in db.execute(sql, args).fetchall()]
        except DatabaseUnusable:
            return []

    def write(self, sql: str, args: tuple[object, ...], *, create: bool = False) -> None:
        """Run ``sql``, best effort; without ``create`` a missing file is left missing."""
        if not create and not self.path.exists():
            return
        with contextlib.suppress(DatabaseUnusable), connect(
            self.path, self.schema, create=create
        ) as db:
            db.execute(sql, args)
