"""Export a model into LM Studio: weights linked two levels below its models folder, settings
in a model.yaml under its hub folder; and removal of such an export.

LM Studio finds its home from ``~/.lmstudio-home-pointer`` (the path it holds), else the legacy
``~/.cache/lm-studio`` when that exists, else ``~/.lmstudio``. Its models folder is
``downloadsFolder`` in ``<home>/settings.json``, else ``<home>/models``, and it only sees files
exactly at ``<models>/<publisher>/<repo>/<file>.gguf``.

Folder names come from the model's full name so that two models never share one:

    registry.ollama.ai/library/gemma3:1b   ->  library/gemma3+1b/
    hf.co/bartowski/Qwen3-8B-GGUF:Q4_K_M   ->  hf.co+bartowski/Qwen3-8B-GGUF+Q4_K_M/
    localhost:5000/team/m:v1               ->  localhost+5000+team/m+v1/

``+`` appears in no Ollama name, so the spelling can be read back; a folder name LM Studio would
refuse (over 100 characters, a trailing dot) is shortened and given a hash of the full name
after ``~``, which appears in no other folder name lamina makes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ocitypes import Descriptor, mediatypes

from ..errors import StorageError
from ..link import LinkMethod
from ..models import Store
from ..names import DEFAULT_HOST, Name
from . import modelyaml
from .common import ExportResult, PlacedFile, RemoveResult, Session, remove_export
from .errors import ExportConflict, ExportUnsupported
from .ledger import Entry, Ledger
from .placing import make_dirs, write_atomically

__all__ = [
    "TARGET", "default_root", "export", "find_home", "folder_names", "hub_names",
    "models_folder", "remove",
]  # fmt: skip

TARGET = "lmstudio"
MAX_FOLDER_NAME = 100
_FORBIDDEN = frozenset('/<>:"\\|?*')
HF_HOSTS = frozenset({"hf.co", "huggingface.co"})
HEADER = "Written by 'lamina export'; 'lamina export --remove' deletes it."


def find_home(user_home: Path | None = None) -> Path:
    """LM Studio's home folder, found the way LM Studio finds it (nothing is written)."""
    home = user_home or Path(os.path.realpath(Path.home()))
    pointer = home / ".lmstudio-home-pointer"
    try:
        text = pointer.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        text = ""
    except OSError as exc:
        raise StorageError.from_oserror(exc, pointer) from exc
    if text:
        return Path(text).expanduser()
    legacy = home / ".cache" / "lm-studio"
    return legacy if legacy.is_dir() else home / ".lmstudio"


def default_root() -> Path:
    return find_home()


def models_folder(home: Path) -> Path:
    """``downloadsFolder`` from ``<home>/settings.json``, else ``<home>/models``."""
    try:
        settings = json.loads((home / "settings.json").read_bytes())
    except (OSError, ValueError):
        settings = None  # missing or unreadable: LM Studio falls back the same way
    folder = settings.get("downloadsFolder") if isinstance(settings, dict) else None
    if isinstance(folder, str) and folder.strip():
        return Path(folder).expanduser()
    return home / "models"


def folder_names(name: Name) -> tuple[str, str]:
    """The publisher and repo folders a model goes in; distinct names give distinct pairs."""
    if name.host.lower() == DEFAULT_HOST:
        publisher = name.namespace
    else:
        publisher = f"{name.host.replace(':', '+')}+{name.namespace}"
    repo = f"{name.model}+{name.tag}"
    return _valid(publisher, name), _valid(repo, name)


def _valid(folder: str, name: Name) -> str:
    if _acceptable(folder):
        return folder
    digest = hashlib.sha256(str(name.without_digest()).lower().encode()).hexdigest()[:12]
    head = folder[: MAX_FOLDER_NAME - 13].rstrip(". ")
    return f"{head}~{digest}"


def _acceptable(folder: str) -> bool:
    return (0 < len(folder) <= MAX_FOLDER_NAME and not _FORBIDDEN & set(folder)
            and folder == folder.strip(". "))


def hub_names(name: Name) -> tuple[str, str]:
    """The hub's owner and model name: LM Studio wants lower-case words and dashes."""
    publisher, repo = folder_names(name)
    return modelyaml.kebab(publisher), modelyaml.kebab(repo)


def export(store: Store, name: str | Name, root: Path, *, method: LinkMethod | None = None,
           force: bool = False) -> ExportResult:
    """Link the model's GGUF files into LM Studio's models folder and write its model.yaml."""
    found = store.resolve(name)
    manifest = store.manifest(found)
    home = Path(os.path.abspath(Path(root).expanduser()))
    publisher, repo = folder_names(found)
    folder = Path(os.path.abspath(models_folder(home))) / publisher / repo
    placements, warnings = _placements(manifest.layers, found, folder)
    settings = _settings(store, manifest.layers)
    with Ledger(store.layout).editing() as ledger:
        entry = ledger.find(TARGET, home, str(found)) or Entry(TARGET, str(home), str(found))
        session = Session(store, ledger, entry, force, method, trust_size=False)
        try:
            owner, model = _free_hub_names(ledger, entry, home, found)
            yaml_path = home / "hub" / "models" / owner / model / "model.yaml"
            document, yaml_warnings = modelyaml.definition(
                f"{owner}/{model}", f"{publisher}/{repo}".lower(), _sources(found), settings)
            yaml_bytes = modelyaml.dump(document, HEADER).encode("utf-8")
            _check_yaml(session, yaml_path, yaml_bytes)
            for descriptor, dst, _ in placements:
                session.check_free(descriptor, dst)
            make_dirs(folder, entry.dirs)
            for descriptor, dst, role in placements:
                session.link_blob(descriptor, dst, role)
            session.sync()
            _write_yaml(session, yaml_path, yaml_bytes)
        finally:
            if entry.files or entry.dirs:  # what a failed export placed stays removable
                ledger.put(entry)
    return ExportResult(TARGET, home, found, tuple(session.files),
                        (*warnings, *yaml_warnings))


def remove(store: Store, name: str, root: Path) -> RemoveResult:
    """Remove what exporting ``name`` into LM Studio's home ``root`` placed."""
    return remove_export(store, TARGET, Path(os.path.abspath(Path(root).expanduser())), name)


def _placements(layers: tuple[Descriptor, ...], name: Name, folder: Path
                ) -> tuple[list[tuple[Descriptor, Path, str]], list[str]]:
    stem = f"{name.model}-{name.tag}"
    weights = [d for d in layers if d.media_type == mediatypes.MODEL]
    if not weights:
        raise ExportUnsupported(f"{name.display_shortest()} has no GGUF weights layer; "
                                "LM Studio has nothing to load")
    out: list[tuple[Descriptor, Path, str]] = []
    if len(weights) == 1:
        out.append((weights[0], folder / f"{stem}.gguf", "weights"))
    else:  # llama.cpp's split naming, which LM Studio loads from the first shard
        count = len(weights)
        out.extend((d, folder / f"{stem}-{i:05d}-of-{count:05d}.gguf", "shard")
                   for i, d in enumerate(weights, 1))
    projectors = [d for d in layers if d.media_type == mediatypes.PROJECTOR]
    for i, d in enumerate(projectors):
        suffix = "" if i == 0 else f"-{i + 1}"
        out.append((d, folder / f"mmproj-{stem}{suffix}.gguf", "projector"))
    warnings = [f"the {kind} layer has no place in LM Studio; not exported"
                for kind, media in (("adapter", mediatypes.ADAPTER), ("draft", mediatypes.DRAFT))
                if any(d.media_type == media for d in layers)]
    return out, warnings


def _free_hub_names(ledger: Ledger, entry: Entry, home: Path, name: Name) -> tuple[str, str]:
    """The hub names, or, when another model's export already holds them (two names that
    differ only in punctuation), the same names with a hash of the full name."""
    owner, model = hub_names(name)
    path = home / "hub" / "models" / owner / model / "model.yaml"
    holder = ledger.owner_of(path, besides=entry)
    if holder is None:
        return owner, model
    digest = hashlib.sha256(str(name.without_digest()).lower().encode()).hexdigest()[:8]
    return owner, f"{model[:91]}-{digest}"


def _sources(name: Name) -> list[dict[str, object]]:
    if name.host.lower() in HF_HOSTS:
        return [{"type": "huggingface", "user": name.namespace, "repo": name.model}]
    return []


def _settings(store: Store, layers: tuple[Descriptor, ...]) -> modelyaml.Settings:
    system = template = None
    parameters: dict[str, object] = {}
    for layer in layers:
        if layer.media_type == mediatypes.SYSTEM:
            system = _text(store, layer)
        elif layer.media_type in (mediatypes.TEMPLATE, mediatypes.LEGACY_PROMPT):
            template = _text(store, layer)
        elif layer.media_type == mediatypes.PARAMS:
            try:
                loaded = json.loads(store.blobs.read_bytes(layer.digest))
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                parameters.update(loaded)
    has_messages = any(d.media_type == mediatypes.MESSAGES for d in layers)
    return modelyaml.Settings(system, template, parameters, has_messages)


def _text(store: Store, layer: Descriptor) -> str:
    return store.blobs.read_bytes(layer.digest).decode("utf-8", errors="replace")


def _check_yaml(session: Session, path: Path, data: bytes) -> None:
    if not os.path.lexists(path) or session.force:
        return
    if session.ledger.owner_of(path, besides=session.entry) is None and session.owns(path):
        return
    if _read(path) != data:
        raise ExportConflict(str(path), "a model.yaml lamina did not write")


def _write_yaml(session: Session, path: Path, data: bytes) -> None:
    if _read(path) == data:
        if session.owns(path):
            session.record(path)
        session.files.append(PlacedFile(path, "model.yaml", "unchanged", len(data)))
        return
    make_dirs(path.parent, session.entry.dirs)
    write_atomically(path, data)
    session.record(path)
    session.files.append(PlacedFile(path, "model.yaml", "written", len(data)))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
