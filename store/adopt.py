"""Bringing models that other tools keep on disk into the store, linking instead of copying.

From Ollama: each manifest under ``<dir>/manifests/*/*/*/*`` is taken byte for byte, and each
blob it names is linked into the store (reflink, else hardlink, else copy) and hashed on the
way, so a damaged blob is refused rather than adopted. From LM Studio: each
``<models>/<publisher>/<repo>/*.gguf`` (split shards as one model, an ``mmproj*.gguf`` beside
it as its projector) becomes a model made by ``create``.

Nothing in the other tool's folder is written, moved or deleted, except that a hard-linked
blob becomes read-only, as every file the store links is.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ocitypes import Manifest, OCIError

from .errors import DigestMismatch, StoreError
from .gguf_merge import shard_group
from .layout import Layout
from .models import Store
from .names import Name

__all__ = ["Adopted", "from_lmstudio", "from_ollama"]


@dataclass(frozen=True, slots=True)
class Adopted:
    """One model found in the other tool's folder and what became of it."""

    name: str
    status: str
    """``imported``, ``unchanged`` (the store had it already) or ``skipped``."""
    detail: str = ""
    linked_size: int = 0
    """Bytes of blobs linked or copied in (the rest were in the store already)."""
    copied_size: int = 0


def from_ollama(store: Store, root: Path, *, force: bool = False) -> list[Adopted]:
    """Adopt every model in an Ollama models folder."""
    theirs = Layout(Path(root))
    if not theirs.manifests.is_dir():
        raise StoreError(f"{root} has no manifests folder; is it an Ollama models folder "
                         "(OLLAMA_MODELS, ~/.ollama/models)?")
    results = []
    for path in sorted(theirs.manifests.glob("*/*/*/*")):
        if path.is_file() and not path.name.startswith("."):
            results.append(_adopt_manifest(store, theirs, path, force=force))
    return results


def _adopt_manifest(store: Store, theirs: Layout, path: Path, *, force: bool) -> Adopted:
    try:
        name = Name.from_parts(*path.relative_to(theirs.manifests).parts)
    except ValueError:
        return Adopted(str(path), "skipped", "not a valid model name")
    label = name.display_shortest()
    try:
        manifest = Manifest.parse(path.read_bytes())
    except (OSError, OCIError) as exc:
        return Adopted(label, "skipped", f"unreadable manifest: {exc}")
    existing = store.find(name)
    if existing is not None:
        if store.manifest(existing).bytes() == manifest.bytes():
            return Adopted(label, "unchanged")
        if not force:
            return Adopted(label, "skipped", "the store has a different model of that name "
                           "(--force replaces it)")
    linked = copied = 0
    with store.writing():
        for descriptor in manifest.descriptors():
            if store.blobs.exists(descriptor.digest):
                continue
            source = theirs.blob(descriptor.digest)
            if not source.is_file():
                return Adopted(label, "skipped", f"blob {descriptor.digest} is missing")
            try:
                result = store.blobs.import_file(source)
            except StoreError as exc:
                return Adopted(label, "skipped", str(exc))
            if result.digest != descriptor.digest:
                mismatch = DigestMismatch(str(descriptor.digest), str(result.digest),
                                          what=str(source))
                return Adopted(label, "skipped", f"damaged: {mismatch}")
            linked += result.size
            if result.method is not None and result.method.value == "copy":
                copied += result.size
        store.write_manifest(name, manifest)
    return Adopted(label, "imported", "", linked, copied)


# -- LM Studio -------------------------------------------------------------------------------

_QUANT = re.compile(r"(?<![A-Za-z0-9])(I?Q\d[A-Za-z0-9_]*|F16|F32|BF16|MXFP4)(?![A-Za-z0-9])",
                    re.IGNORECASE)
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")
_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def from_lmstudio(store: Store, models: Path) -> list[Adopted]:
    """Adopt every GGUF two levels below LM Studio's models folder."""
    if not Path(models).is_dir():
        raise StoreError(f"{models} is not a folder; give LM Studio's home or models folder")
    models = Path(os.path.abspath(models))  # FROM lines are read against each model's folder
    import modelfile

    from .create import create

    results = []
    for folder in sorted(p for p in Path(models).glob("*/*") if p.is_dir()):
        ggufs = sorted(p for p in folder.glob("*.gguf") if p.is_file())
        projectors = [p for p in ggufs if "mmproj" in p.name.lower()]
        weights = [p for p in ggufs if p not in projectors]
        for first, tag in _models_in(weights):
            name = _name_for(folder, tag)
            if name is None:
                results.append(Adopted(str(first), "skipped", "no valid model name for it"))
                continue
            lines = [f'FROM "{first}"'] + [f'FROM "{p}"' for p in projectors[:1]]
            if any('"' in str(p) or "\n" in str(p) for p in (first, *projectors[:1])):
                results.append(Adopted(str(first), "skipped", "a quote or line break in its path"))
                continue
            label = name.display_shortest()
            try:
                created = create(store, name, modelfile.parse("\n".join(lines) + "\n"),
                                 base_dir=folder)
            except (StoreError, modelfile.ModelfileError) as exc:
                results.append(Adopted(label, "skipped", str(exc)))
                continue
            size = sum(r.size for _, r in created.imports if r.method is not None)
            copied = sum(r.size for _, r in created.imports
                         if r.method is not None and r.method.value == "copy")
            status = "imported" if size or not created.imports else "unchanged"
            results.append(Adopted(label, status, "", size, copied))
    return results


def _models_in(weights: list[Path]) -> list[tuple[Path, str]]:
    """Each model among a folder's GGUFs, split shards counted once by their first, with a tag
    taken from the quantization in the file name."""
    groups: dict[str, list[tuple[int, Path]]] = {}
    for path in weights:
        shard = shard_group(path)
        key, number = (shard[0], shard[1]) if shard is not None else (path.stem, 1)
        groups.setdefault(key, []).append((number, path))
    found = []
    for stem, members in groups.items():
        first = min(members)[1]
        match = _QUANT.search(stem)
        found.append((first, match.group(1).upper() if match else stem, stem))
    tags = [tag for _, tag, _ in found]
    # Two models with one quant in a folder (rare): their full stems tell them apart.
    return [(p, t if tags.count(t) == 1 else stem) for p, t, stem in found]


def _name_for(folder: Path, tag: str) -> Name | None:
    publisher, repo = folder.parent.name, folder.name
    if "+" not in publisher and repo.count("+") == 1:  # a folder lamina's export made
        with contextlib.suppress(ValueError):
            model, exported_tag = repo.split("+")
            return Name.parse(f"{publisher}/{model}:{exported_tag}")
    namespace = re.sub(r"[^A-Za-z0-9_-]+", "-", publisher).strip("-_")[:80] or "lmstudio"
    model = _BAD.sub("-", repo).strip("-.")[:80] or "model"
    clean_tag = _BAD.sub("-", tag).strip("-.")[:80] or "latest"
    try:
        return Name.parse(f"{namespace}/{model}:{clean_tag}")
    except ValueError:
        return None
