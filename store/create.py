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

from . import chat
from .blobs import ImportResult, Progress
from .build import autotemplate, classify, layers
from .build.sources import MissingParent, ParentModel, Sources, find_sources
from .build.weights import Placed, Probed, Reporter, place, probe, write_pending
from .config import ModelConfig
from .errors import ParentNotFound, blob_json_errors
from .gguf import GGUFInfo
from .models import Store
from .names import Name

if TYPE_CHECKING:  # the language package (and its parser) is imported only when create runs
    import modelfile

__all__ = ["CreateResult", "Reporter", "create", "template_warnings"]


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
    template: chat.Chosen | None = None  # the template chosen for weights that had only Jinja


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
    base_count: int = 0  # how many layers the base (weights or parent) gave


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
    found = _pick_template(store, recipe, plan)
    unmatched = None if found is None else autotemplate.unmatched_warning(source, found)
    warnings = (*diagnostics, *([unmatched] if unmatched else []))
    chosen = None if found is None else found.chosen
    with store.writing():
        built = _build(store, plan, report)
        if found is not None and chosen is not None:
            report.status(found.status())
            built.layers.insert(built.base_count, layers.Pending(
                mediatypes.TEMPLATE, chosen.family.template.encode("utf-8")))
            built.inherited_params.insert(0, found.params())
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
        published, manifest, tuple(built.imports), tuple(map(str, pruned)), warnings, chosen
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
    for placed in base:
        _add(built, placed)
    built.base_count = len(built.layers)
    for placed in layers.ordered([], adapter, drafts):
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


def _pick_template(
    store: Store, recipe: modelfile.Recipe, plan: _Plan
) -> autotemplate.Pick | None:
    """The template for weights that carry only a Jinja one (or none), before any write."""
    if isinstance(plan.base, ParentModel):
        manifest = store.manifest(plan.base.name)
        models = [layer for layer in manifest.layers if layer.media_type == mediatypes.MODEL]
        candidates = [autotemplate.Candidate(store.weights_info(layer.digest),
                                             plan.base.spelled, plan.base.spelled)
                      for layer in models[:1]]
        existing = [layer.media_type for layer in manifest.layers]
        return autotemplate.pick(recipe.template, candidates, existing)
    return _pick_template_from_files(recipe, plan.base)


def _pick_template_from_files(
    recipe: modelfile.Recipe, base: list[tuple[Probed, str]]
) -> autotemplate.Pick | None:
    candidates = [autotemplate.Candidate(probed.info, probed.unit.label, probed.unit.value)
                  for probed, kind in base if kind == mediatypes.MODEL]
    return autotemplate.pick(recipe.template, candidates)


def template_warnings(source: modelfile.Modelfile, *, base_dir: Path) -> list[modelfile.Diagnostic]:
    """What ``check`` can tell without a store: FROM weights whose Jinja chat template lamina
    does not recognise. Files that cannot be read and model names are left to ``create``."""
    import modelfile

    from .errors import ModelNotFound, StoreError

    def no_store(name: str) -> Name:
        raise ModelNotFound(name)

    try:
        recipe = modelfile.resolve(source)
        sources = find_sources(recipe, base_dir, no_store)
        if not isinstance(sources.base, tuple):
            return []
        plan = _plan(Sources(sources.base), _Silent())
    except (StoreError, modelfile.ModelfileError):
        return []
    assert not isinstance(plan.base, ParentModel)
    found = _pick_template_from_files(recipe, plan.base)
    warning = None if found is None else autotemplate.unmatched_warning(source, found)
    return [warning] if warning else []
