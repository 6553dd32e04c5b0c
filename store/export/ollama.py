"""Export a model into an Ollama models folder, and remove such an export.

Ollama reads ``manifests/<host>/<namespace>/<model>/<tag>`` (exactly four levels) and
``blobs/sha256-<hex>``, and trusts a blob's name without re-hashing it. lamina's manifest is
already byte-for-byte Ollama's, so an export writes the same bytes and links each blob; the
model's ID is then the same in both tools.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from ocitypes import Descriptor, Digest

from ..errors import storage_errors
from ..layout import Layout
from ..link import LinkMethod
from ..models import Store
from ..names import Name
from .common import ExportResult, PlacedFile, RemoveResult, Session, remove_export
from .errors import ExportConflict
from .ledger import Entry, Ledger
from .placing import make_dirs, write_atomically

__all__ = ["TARGET", "default_root", "export", "remove"]

TARGET = "ollama"


def default_root(environ: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """Where Ollama keeps models: ``$OLLAMA_MODELS``, else ``~/.ollama/models``."""
    env = os.environ if environ is None else environ
    configured = env.get("OLLAMA_MODELS")
    if configured:
        return Path(configured).expanduser()
    return (home or Path.home()) / ".ollama" / "models"


def export(store: Store, name: str | Name, root: Path, *, method: LinkMethod | None = None,
           force: bool = False) -> ExportResult:
    """Write the model's manifest into ``root`` byte for byte and link each blob beside it."""
    found = store.resolve(name)
    manifest = store.manifest(found)
    data = manifest.bytes()
    root = _absolute(root)
    target = Layout(root)
    manifest_path = target.manifest(found)
    existing = _read(manifest_path)
    with Ledger(store.layout).editing() as ledger:
        entry = ledger.find(TARGET, root, str(found)) or Entry(TARGET, str(root), str(found))
        session = Session(store, ledger, entry, force, method)
        try:
            if existing is not None and existing != data and not force:
                raise ExportConflict(str(manifest_path), "a different manifest for this name")
            make_dirs(target.blobs, entry.dirs)
            for descriptor in _unique(manifest.descriptors()):
                session.link_blob(descriptor, target.blob(descriptor.digest), "blob")
            session.sync()  # every blob durable before a manifest names them
            make_dirs(manifest_path.parent, entry.dirs)
            if existing == data:
                if session.owns(manifest_path):
                    session.record(manifest_path)
                session.files.append(PlacedFile(manifest_path, "manifest", "unchanged", len(data)))
            else:
                write_atomically(manifest_path, data)
                session.record(manifest_path)
                session.files.append(PlacedFile(manifest_path, "manifest", "written", len(data)))
        finally:
            if entry.files or entry.dirs:  # what a failed export placed stays removable
                ledger.put(entry)
    return ExportResult(TARGET, root, found, tuple(session.files))


def remove(store: Store, name: str, root: Path) -> RemoveResult:
    """Remove what exporting ``name`` into ``root`` placed, keeping blobs other models need."""
    root = _absolute(root)
    blobs = root / "blobs"
    referenced: list[set[Digest]] = []  # read once, after this export's manifest is removed

    def in_use(path: Path) -> str | None:
        if path.parent != blobs:
            return None
        if not referenced:
            referenced.append(_referenced(root))
        digest = Layout.digest_of_blob_file(path)
        if digest is not None and digest in referenced[0]:
            return "another Ollama model uses it"
        return None

    return remove_export(store, TARGET, root, name, in_use)


def _referenced(root: Path) -> set[Digest]:
    """Every blob a manifest in ``root`` names (run after this export's manifest is gone)."""
    used: set[Digest] = set()
    for path in (root / "manifests").glob("*/*/*/*"):
        try:
            document = json.loads(path.read_bytes())
            descriptors = [document["config"], *document.get("layers", [])]
            used.update(Digest.parse(d["digest"]) for d in descriptors)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # an unreadable manifest names nothing we can know of
    return used


def _unique(descriptors: tuple[Descriptor, ...]) -> list[Descriptor]:
    """Each blob once: a manifest may name one blob twice (two identical licenses)."""
    return list({d.digest: d for d in descriptors}.values())


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except OSError as exc:
        with storage_errors(path):
            raise exc


def _absolute(root: Path) -> Path:
    return Path(os.path.abspath(Path(root).expanduser()))
