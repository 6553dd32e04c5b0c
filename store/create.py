"""``create``: a Modelfile becomes layers, a config blob and a manifest, byte for byte as
Ollama's ``create`` writes them (server/create.go), with the weights linked instead of copied.

Layer order: base layers (the parent's, or one per GGUF file), then adapter and draft layers,
then template, system, licenses, params and messages. TEMPLATE and SYSTEM replace the parent's
(an empty one does not clear it), LICENSE layers add to the parent's, parameters merge key by key
(a new ``stop`` replaces the whole list), MESSAGEs replace the parent's only when given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ocitypes import Descriptor, Manifest, gojson, mediatypes

from .blobs import ImportResult, Progress
from .config import Draft, ModelConfig
from .errors import (
    CreateError,
    GGUFError,
    InvalidName,
    ModelNotFound,
    blob_json_errors,
)
from .gguf import GGUFInfo, read_info
from .gguf_merge import plan_merge, shard_group
from .models import Store
from .names import Name

if TYPE_CHECKING:  # the language package (and its parser) is imported only when create runs
    import modelfile


class Reporter(Protocol):
    """How ``create`` tells its caller what it is doing; the library itself never prints."""

    def status(self, text: str) -> None: ...

    def hashing(self, label: str, size: int) -> AbstractContextManager[Progress]: ...


class _Silent:
    def status(self, text: str) -> None:
        pass

    def hashing(self, label: str, size: int) -> AbstractContextManager[Progress]:
        return nullcontext(lambda n: None)


@dataclass(frozen=True, slots=True)
class CreateResult:
    name: Name
    manifest: Manifest
    imports: tuple[tuple[Path, ImportResult], ...] = ()
    pruned: tuple[str, ...] = ()


@dataclass(slots=True)
class _Build:
    layers: list[Descriptor] = field(default_factory=list)
    weights: list[tuple[Descriptor, GGUFInfo]] = field(default_factory=list)
    parent: ModelConfig | None = None
    imports: list[tuple[Path, ImportResult]] = field(default_factory=list)


_PATH_LIKE = re.compile(r"^(?:\.{1,2}[/\\]|[/\\~]|[A-Za-z]:[/\\])|\.(?:gguf|bin)$", re.IGNORECASE)


def create(
    store: Store,
    name: str | Name,
    source: modelfile.Modelfile,
    *,
    base_dir: Path,
    reporter: Reporter | None = None,
) -> CreateResult:
    """Build the model ``source`` describes and publish it as ``name``."""
    report = reporter or _Silent()
    target = Name.parse(name) if isinstance(name, str) else name
    import modelfile

    recipe = modelfile.resolve(source)
    with store.writing():
        build = _layers(store, recipe, base_dir, report)
        config_blob = store.blobs.put_bytes(_config(recipe, build).encode())
        manifest = Manifest(
            Descriptor(mediatypes.CONFIG, config_blob.digest, config_blob.size),
            tuple(build.layers),
        )
        report.status("writing manifest")
        existing = store.find(target)
        previous = store.manifest(existing) if existing is not None else None
        published = store.write_manifest(target, manifest)
    pruned = store.prune_replaced(previous)
    report.status("success")
    return CreateResult(published, manifest, tuple(build.imports), tuple(map(str, pruned)))


def _layers(
    store: Store, recipe: modelfile.Recipe, base_dir: Path, report: Reporter
) -> _Build:
    """Every layer, in Ollama's order, with their blobs in the store."""
    build = _Build()
    _base_layers(store, recipe, base_dir, build, report)
    if recipe.adapter is not None:
        _add_weights(store, _local(recipe.adapter, base_dir, "ADAPTER"), build, report,
                     media_type=mediatypes.ADAPTER)
    for draft in recipe.drafts:
        _add_weights(store, _local(draft, base_dir, "DRAFT"), build, report,
                     media_type=mediatypes.DRAFT)
    _apply_text_layers(store, recipe, build)
    _apply_params(store, recipe, build)
    _apply_messages(store, recipe, build)
    return build


# -- FROM ------------------------------------------------------------------------------------


def _base_layers(
    store: Store, recipe: modelfile.Recipe, base_dir: Path, build: _Build, report: Reporter
) -> None:
    files: list[Path] = []
    names: list[str] = []
    for value in recipe.froms:
        path = _expand(value, base_dir)
        if path.exists():
            files.extend(_gguf_files(path))
        elif _PATH_LIKE.search(value):
            raise CreateError(f"FROM {value}: no such file ({path})")
        else:
            names.append(value)
    if files and names:
        raise CreateError(
            f"FROM names both files and the model {names[-1]!r}; a Modelfile builds on one or "
            "the other"
        )
    if names:
        _inherit(store, names[-1], build)
        return
    singles, groups = _split_groups(sorted(set(files), key=lambda p: p.name))
    for path in singles:
        _add_weights(store, path, build, report, media_type=None)
    for shards in groups:
        _add_merged(store, shards, build, report)


def _split_groups(paths: Sequence[Path]) -> tuple[list[Path], list[list[Path]]]:
    """Plain GGUF files, and split GGUFs grouped by prefix (each group becomes one layer)."""
    singles: list[Path] = []
    groups: dict[tuple[Path, str], list[Path]] = {}
    for path in paths:
        group = shard_group(path)
        if group is None:
            singles.append(path)
        else:
            groups.setdefault((path.parent, group[0]), []).append(path)
    return singles, list(groups.values())


def _expand(value: str, base_dir: Path) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else (base_dir / path)


def _local(value: str, base_dir: Path, keyword: str) -> Path:
    path = _expand(value, base_dir)
    if not path.exists():
        raise CreateError(f"{keyword} {value}: no such file ({path})")
    files = _gguf_files(path)
    if len(files) != 1:
        raise CreateError(f"{keyword} {value}: expected one GGUF file, found {len(files)}")
    return files[0]


def _gguf_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path.resolve()]
    found = sorted(p.resolve() for p in path.glob("*.gguf") if p.is_file())
    if not found:
        has_safetensors = any(path.glob("*.safetensors"))
        detail = (
            "it holds safetensors weights; convert them to GGUF first"
            if has_safetensors else "it holds no .gguf file"
        )
        raise CreateError(f"{path}: cannot build from this folder: {detail}")
    return found


def _inherit(store: Store, value: str, build: _Build) -> None:
    try:
        parent = store.resolve(value)
    except InvalidName as exc:
        raise CreateError(f"FROM {value}: not a file, and not a valid model name ({exc.reason})")\
            from exc
    except ModelNotFound as exc:
        raise CreateError(
            f"FROM {value}: no such file, and no model '{value}' in the store; "
            "create it first (see 'lamina list')"
        ) from exc
    manifest = store.manifest(parent)
    # Ollama records the parent as the Modelfile spells it (defaults filled in, case kept).
    origin = Name.parse(value).display_shortest()
    build.layers = [replace(layer, from_=origin) for layer in manifest.layers]
    build.parent = ModelConfig.parse(store.blobs.read_bytes(manifest.config.digest))
    for layer in build.layers:
        if layer.media_type in (mediatypes.MODEL, mediatypes.DRAFT):
            build.weights.append((layer, store.weights_info(layer.digest)))


def _add_weights(
    store: Store, path: Path, build: _Build, report: Reporter, *, media_type: str | None
) -> None:
    """Read a GGUF header, link or copy the file into the store, add its layer."""
    report.status(f"parsing GGUF {path.name}")
    info = read_info(path)
    if media_type == mediatypes.ADAPTER and info.general_type != "adapter":
        raise GGUFError(str(path), "ADAPTER needs a LoRA adapter GGUF (general.type adapter), "
                                   f"this one is {info.general_type or 'a model'}")
    kind = media_type or _media_type(info)
    size = path.stat().st_size
    with report.hashing(path.name, size) as progress:
        result = store.blobs.import_file(path, progress=progress)
    verb = "using existing" if result.method is None else "creating new"
    report.status(f"{verb} layer {result.digest}")
    # Ollama rewrites plain model layers on import, which drops their provenance; the other
    # weight layers keep the file they came from.
    origin = None if kind == mediatypes.MODEL else path.name
    _add_layer(build, Descriptor(kind, result.digest, result.size, from_=origin), info)
    build.imports.append((path, result))


def _add_merged(store: Store, shards: list[Path], build: _Build, report: Reporter) -> None:
    """A split GGUF becomes one model layer: the shards merged into one file, streamed."""
    plan = plan_merge(shards)
    report.status(f"merging {len(plan.shards)} shards of {plan.shards[0].name}")
    with report.hashing(plan.shards[0].name, plan.size) as progress:
        blob = store.blobs.put_stream(plan.chunks(), progress=progress)
    report.status(f"creating new layer {blob.digest}")
    info = read_info(store.blobs.path(blob.digest))
    _add_layer(build, Descriptor(_media_type(info), blob.digest, blob.size), info)


def _add_layer(build: _Build, descriptor: Descriptor, info: GGUFInfo) -> None:
    build.layers.append(descriptor)
    if descriptor.media_type in (mediatypes.MODEL, mediatypes.DRAFT):
        build.weights.append((descriptor, info))


def _media_type(info: GGUFInfo) -> str:
    """Ollama's rule: general.type picks adapter or projector; so does a vision-only header."""
    if info.general_type == "adapter":
        return mediatypes.ADAPTER
    if info.general_type in ("projector", "mmproj"):
        return mediatypes.PROJECTOR
    arch = info.architecture
    blocks = _uint(info, f"{arch}.block_count")
    if blocks == 0 and _uint(info, f"{arch}.vision.block_count") > 0:
        return mediatypes.PROJECTOR
    encoders = info.metadata.get("clip.has_vision_encoder") or info.metadata.get(
        "clip.has_audio_encoder")
    if arch == "clip" and blocks == 0 and encoders:
        return mediatypes.PROJECTOR
    return mediatypes.MODEL


def _uint(info: GGUFInfo, key: str) -> int:
    value = info.metadata.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# -- text, params, messages ------------------------------------------------------------------


def _text_layer(store: Store, media_type: str, text: str) -> Descriptor:
    blob = store.blobs.put_bytes(text.encode("utf-8"))
    return Descriptor(media_type, blob.digest, blob.size)


def _apply_text_layers(store: Store, recipe: modelfile.Recipe, build: _Build) -> None:
    for media_type, text in ((mediatypes.TEMPLATE, recipe.template),
                             (mediatypes.SYSTEM, recipe.system)):
        if text:
            replaced = {media_type, mediatypes.LEGACY_PROMPT}
            build.layers = [layer for layer in build.layers if layer.media_type not in replaced]
            build.layers.append(_text_layer(store, media_type, text))
    for text in recipe.licenses:
        build.layers.append(_text_layer(store, mediatypes.LICENSE, text))


def _apply_params(store: Store, recipe: modelfile.Recipe, build: _Build) -> None:
    import modelfile

    merged: dict[str, object] = {}
    for layer in build.layers:
        if layer.media_type == mediatypes.PARAMS:
            merged.update(_read_json_object(store, layer))
    for key, value in recipe.parameters.items():
        floats = modelfile.PARAMETERS.get(key) is modelfile.ParamType.FLOAT
        merged[key] = gojson.Float32(value) if floats and isinstance(value, float) else value
    if not merged:
        return
    build.layers = [layer for layer in build.layers if layer.media_type != mediatypes.PARAMS]
    blob = store.blobs.put_bytes(gojson.encode(merged))
    build.layers.append(Descriptor(mediatypes.PARAMS, blob.digest, blob.size))


def _read_json_object(store: Store, layer: Descriptor) -> dict[str, object]:
    data = store.blobs.read_bytes(layer.digest)
    with blob_json_errors():
        return gojson.load_object(data, f"the base model's params layer {layer.digest}")


def _apply_messages(store: Store, recipe: modelfile.Recipe, build: _Build) -> None:
    if not recipe.messages:
        return
    messages = [{"role": role, "content": content} for role, content in recipe.messages]
    build.layers = [layer for layer in build.layers if layer.media_type != mediatypes.MESSAGES]
    blob = store.blobs.put_bytes(gojson.encode(messages, sort_keys=False))
    build.layers.append(Descriptor(mediatypes.MESSAGES, blob.digest, blob.size))


# -- config ----------------------------------------------------------------------------------


def _config(recipe: modelfile.Recipe, build: _Build) -> ModelConfig:
    """A fresh config, as Ollama builds one: family, type and quantization come from the
    weights (one family entry per model layer); renderer, parser, requires, format and
    capabilities are inherited from a parent unless the Modelfile overrides them."""
    parent = build.parent or ModelConfig()
    infos = [info for layer, info in build.weights if layer.media_type == mediatypes.MODEL]
    drafts = [info for layer, info in build.weights if layer.media_type == mediatypes.DRAFT]
    first = infos[0] if infos else None
    return ModelConfig(
        model_format=parent.model_format or "gguf",
        model_family=first.architecture if first else "",
        model_families=tuple(info.architecture for info in infos) or None,
        model_type=first.model_type if first else "",
        file_type=first.file_type_name if first else "",
        renderer=recipe.renderer or parent.renderer,
        parser=recipe.parser or parent.parser,
        requires=recipe.requires or parent.requires,
        capabilities=parent.capabilities,
        draft=Draft(model_format="gguf", architecture=drafts[-1].architecture) if drafts else None,
    )
