"""Where things live under a store root: pure path math, no directory is created here.

The two public folders are exactly Ollama's, so ``OLLAMA_MODELS=<root> ollama serve`` reads a
lamina store:

    <root>/blobs/sha256-<hex>
    <root>/manifests/<host>/<namespace>/<model>/<tag>

lamina's own bookkeeping (locks, hash cache, link ledger) lives under ``<root>/.lamina``, which
Ollama never looks at. So do blobs still arriving, since Ollama deletes every name in ``blobs/``
that is not a digest when it starts:

    <root>/.lamina/partial/sha256-<hex>.part    a pull's blob, written in parts
    <root>/.lamina/partial/sha256-<hex>.ranges  the parts of it that are finished
    <root>/.lamina/uploads/<id>                 a server's upload session
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ocitypes import Digest

if TYPE_CHECKING:
    from .names import Name

TEMP_PREFIX = ".tmp-"
"""Temp files in the blobs folder start with this; gc removes stale ones."""

PARTIAL_SUFFIX = ".part"
RANGES_SUFFIX = ".ranges"


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def state(self) -> Path:
        """lamina's private folder: locks, the hash cache, the link ledger."""
        return self.root / ".lamina"

    @property
    def locks(self) -> Path:
        return self.state / "locks"

    @property
    def hash_cache(self) -> Path:
        return self.state / "hashcache.sqlite"

    @property
    def partials(self) -> Path:
        return self.state / "partial"

    def partial(self, digest: Digest) -> Path:
        """The file a pull writes ``digest``'s parts into (same file system as ``blobs/``)."""
        return self.partials / f"sha256-{digest.hex}{PARTIAL_SUFFIX}"

    def partial_ranges(self, digest: Digest) -> Path:
        """The record of the partial file's finished ranges."""
        return self.partials / f"sha256-{digest.hex}{RANGES_SUFFIX}"

    @property
    def uploads(self) -> Path:
        return self.state / "uploads"

    def upload(self, upload_id: str) -> Path:
        """An upload session's bytes; ``upload_id`` must be checked first (it comes from
        a URL)."""
        return self.uploads / upload_id

    def mode_record(self, digest: Digest) -> Path:
        """The mode a user's file had before the store made its inode this blob read-only."""
        return self.state / "modes" / f"sha256-{digest.hex}"

    @property
    def provenance(self) -> Path:
        """Which registry repositories hold which blobs (for pushes)."""
        return self.state / "provenance.sqlite"

    @property
    def push_sessions(self) -> Path:
        """Upload sessions an unfinished push left on registries (to resume them)."""
        return self.state / "push-sessions.sqlite"

    @property
    def untagged(self) -> Path:
        """Manifests a registry client pushed by digest only: no tag, so not in ``manifests/``
        (Ollama would list them), yet kept from gc and served by digest."""
        return self.state / "manifests-by-digest"

    def untagged_manifest(self, host: str, namespace: str, model: str, digest: Digest) -> Path:
        return self.untagged / host / namespace / model / f"sha256-{digest.hex}"

    def blob(self, digest: Digest) -> Path:
        return self.blobs / f"sha256-{digest.hex}"

    def manifest(self, name: Name) -> Path:
        return self.manifests / name.host / name.namespace / name.model / name.tag

    def blob_lock(self, digest: Digest) -> Path:
        return self.locks / f"blob-sha256-{digest.hex}.lock"

    def name_lock(self, key: str) -> Path:
        """Held while a manifest is replaced, so each writer prunes exactly what it replaced;
        ``key`` is a hex digest of the name folded to lower case."""
        return self.locks / f"name-{key}.lock"

    @property
    def store_lock(self) -> Path:
        """Held shared by writers of manifests and exclusively by gc and rm."""
        return self.locks / "store.lock"

    @staticmethod
    def digest_of_blob_file(path: Path) -> Digest | None:
        """The digest a blob file name spells, or None for anything else in the folder."""
        name = path.name
        if not name.startswith("sha256-") or len(name) != 71:
            return None
        try:
            return Digest(name[len("sha256-"):])
        except ValueError:  # upper case or not hex: not a name lamina or Ollama writes
            return None
