"""Which registry repositories each blob is known to exist in: ``registry.protocols.Provenance``.

A push consults it to skip a HEAD for a blob the registry is known to hold, or to mount the blob
from a sibling repository instead of sending it; a pull or push records what it saw. One SQLite
file (``.lamina/provenance.sqlite``, WAL, busy timeout, one short connection per call) so several
processes and threads share it. It is advice, not truth: a registry may have deleted a blob since,
so a push still copes with a failed mount, and a broken file costs only a HEAD request.
"""

from __future__ import annotations

from pathlib import Path

from ocitypes import Digest

from ._sqlite import AdviceFile

__all__ = ["ProvenanceLedger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    digest TEXT NOT NULL,
    registry TEXT NOT NULL,
    repository TEXT NOT NULL,
    PRIMARY KEY (digest, registry, repository)
)
"""


class ProvenanceLedger:
    """Blobs by the registry repositories they were seen in; satisfies ``Provenance``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = AdviceFile(path, _SCHEMA)

    def known(self, digest: Digest, registry: str) -> list[str]:
        """Repositories of ``registry`` (``host[:port]``) known to hold ``digest``, sorted."""
        rows = self._file.rows(
            "SELECT repository FROM seen WHERE digest = ? AND registry = ? ORDER BY repository",
            (str(digest), registry.lower()),
        )
        return [str(row[0]) for row in rows]  # none: a push asks the registry

    def record(self, digest: Digest, registry: str, repository: str) -> None:
        """Remember that ``repository`` on ``registry`` holds ``digest`` (best effort)."""
        self._file.write("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)",
                         (str(digest), registry.lower(), repository), create=True)

    def forget(self, digest: Digest, registry: str, repository: str) -> None:
        """Drop a record a registry proved wrong (a failed mount, a 404)."""
        self._file.write("DELETE FROM seen WHERE digest = ? AND registry = ? AND repository = ?",
                         (str(digest), registry.lower(), repository))
