"""``create``: a Modelfile becomes layers, a config blob and a manifest, byte for byte as
Ollama's ``create`` writes them (server/create.go), with the weights linked instead of copied.

The steps, each in its own module of ``store.build``: find the sources (``sources``), read and
classify their headers (``classify``), refuse what cannot run, then under the store's write hold
place the weights and write the layers Ollama's rules give (``layers``, ``weights``). Nothing is
written before every file has been read and found sound.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ocitypes import Descriptor, Manifest, gojson, mediatypes

from .blobs import ImportResult, Progress
from .build import classify, layers
from .build.sources import MissingParent, ParentModel, Sources, find_sources
from .build.weights import Placed, Probed, Reporter, place, probe, write_pending
from .config import ModelConfig
from .errors import ParentNotFound, blob_json_errors
from .gguf import GGUFInfo
from .models import Store
from .names import Name

if TYPE_CHECKING:  # the language package (and its parser) is imported only when create runs
    import modelfile

__all__ = ["CreateResult", "Reporter", "create"]


class _Silent:
    def status(self, text: str) -> None:
        pass

    def hashing(self, label: str, size: int) -> AbstractContextManager[Progress]:
        return nullcontext(lambda n: None)


@dataclass(frozen=True, slots=True)
class CreateResult:
    """The published model; ``warnings`` holds the Modelfile's and create's own, in order."""

    name: Name
    manifest: Manifest
    imports: tuple[tuple[Path, ImportResult], ...] = ()
    pruned: tuple[str, ...] = ()
    warnings: tuple[modelfile.Diagnostic, ...] = ()


@dataclass(slots=True)
class _Plan:
    """What the Modelfile builds on, every header read and checked, nothing written yet."""

    base: list[tuple[Probed, str]] | ParentModel
    adapter: Probed | None = None
    drafts: list[Probed] = field(default_factory=list)


@dataclass(slots=True)
class _Built:
    layers: list[layers.Layer] = field(default_factory=list)
    weights: list[tuple[str, GGUFInfo]] = field(default_factory=list)
    parent: ModelConfig | None = None
    inherited_params: list[dict[str, object]] = field(default_factory=list)
    imports: list[tuple[Path, ImportResult]] = field(default_factory=list)


def create(
    store: Store,
    name: str | Name,
    source: modelfile.Modelfile,
    *,
    base_dir: Path,
    reporter: Reporter | None = None,
) -> CreateResult:
    """Build the model ``source`` describes and publish it as ``name``."""
    import modelfile

    report = reporter or _Silent()
    target = _target(name)
    store.manifest_path(target)  # a name the disk cannot hold is refused before any write
    recipe, diagnostics = modelfile.analyse(source)
    plan = _plan(find_sources(recipe, base_dir, store.resolve), report)
    warnings = (*diagnostics, *_own_warnings(source, recipe, plan))
    with store.writing():
        built = _build(store, plan, report)
        final = write_pending(store, layers.apply_recipe(built.layers, recipe,
                                                         built.inherited_params))
        config = layers.model_config(recipe, built.parent, built.weights)
        config_blob = store.blobs.put_bytes(config.encode())
        manifest = Manifest(
            Descriptor(mediatypes.CONFIG, config_blob.digest, config_blob.size), tuple(final)
        )
        report.status("writing manifest")
        published, previous = store.replace_manifest(target, manifest)
    pruned = store.prune_replaced(previous)
    report.status("success")
    return CreateResult(
        published, manifest, tuple(built.imports), tuple(map(str, pruned)), warnings
    )


def _target(name: str | Name) -> Name:
    target = Name.parse(name) if isinstance(name, str) else name
    return target.require_no_digest("name to create")


def _plan(sources: Sources, report: Reporter) -> _Plan:
    """Read every header and refuse what cannot run, before anything is written."""
    if isinstance(sources.base, MissingParent):
        raise ParentNotFound(sources.base.spelled)
    if isinstance(sources.base, ParentModel):
        plan = _Plan(sources.base)
    else:
        probed = [probe(unit, report) for unit in sources.base]
        kinds = [classify.media_type(p.info) for p in probed]
        classify.check_base([(p.unit.label, kind) for p, kind in zip(probed, kinds, strict=True)])
        plan = _Plan(list(zip(probed, kinds, strict=True)))
    if sources.adapter is not None:
        plan.adapter = probe(sources.adapter, report)
        classify.check_adapter(str(sources.adapter.paths[0]), plan.adapter.info)
    plan.drafts = [probe(draft, report) for draft in sources.drafts]
    return plan


def _build(store: Store, plan: _Plan, report: Reporter) -> _Built:
    """The weight layers in Ollama's order, their blobs in the store."""
    built = _Built()
    base: list[Placed] = []
    if isinstance(plan.base, ParentModel):
        _inherit(store, plan.base, built)
    else:
        base = [place(store, probed, kind, report) for probed, kind in plan.base]
    adapter = None if plan.adapter is None else place(store, plan.adapter, mediatypes.ADAPTER,
                                                      report)
    drafts = [place(store, draft, mediatypes.DRAFT, report) for draft in plan.drafts]
    for placed in layers.ordered(base, adapter, drafts):
        _add(built, placed)
    return built


def _inherit(store: Store, parent: ParentModel, built: _Built) -> None:
    manifest = store.manifest(parent.name)
    # Ollama records the parent as the Modelfile spells it (defaults filled in, case kept).
    origin = Name.parse(parent.spelled).display_shortest()
    inherited = layers.inherit(manifest.layers, origin)
    built.layers.extend(inherited)
    built.parent = ModelConfig.parse(store.blobs.read_bytes(manifest.config.digest))
    for layer in inherited:
        if layer.media_type in (mediatypes.MODEL, mediatypes.DRAFT):
            built.weights.append((layer.media_type, store.weights_info(layer.digest)))
        elif layer.media_type == mediatypes.PARAMS:
            built.inherited_params.append(_read_params(store, layer))


def _read_params(store: Store, layer: Descriptor) -> dict[str, object]:
    data = store.blobs.read_bytes(layer.digest)
    with blob_json_errors():
        return gojson.load_object(data, f"the base model's params layer {layer.digest}")


def _add(built: _Built, placed: Placed) -> None:
    built.layers.append(placed.descriptor)
    built.imports.extend(placed.imports)
    if placed.descriptor.media_type in (mediatypes.MODEL, mediatypes.DRAFT):
        built.weights.append((placed.descriptor.media_type, placed.info))


def _own_warnings(
    source: modelfile.Modelfile, recipe: modelfile.Recipe, plan: _Plan
) -> list[modelfile.Diagnostic]:
    """What create notices that the language cannot: a chat template Ollama would use."""
    import modelfile

    if recipe.template or isinstance(plan.base, ParentModel):
        return []
    found: list[modelfile.Diagnostic] = []
    for probed, kind in plan.base:
        if kind != mediatypes.MODEL or not probed.info.chat_template:
            continue
        instruction = _from_line(source, probed.unit.value)
        if instruction is not None:
            found.append(modelfile.warning_at(
                source, instruction,
                f"{probed.unit.label} carries a chat template; Ollama may make a TEMPLATE of "
                "it, lamina does not",
                "add a TEMPLATE line, or the model is sent the bare prompt",
            ))
    return found


def _from_line(source: modelfile.Modelfile, value: str) -> modelfile.Instruction | None:
    import modelfile

    return next((i for i in source.of_kind(modelfile.Kind.FROM) if i.value == value), None)
