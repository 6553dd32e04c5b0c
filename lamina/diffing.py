"""What ``lamina diff`` says: two models are identical exactly when their IDs are, and otherwise
every aspect that differs is named (layers, their order, where they came from, the config...)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .output import human_bytes, plural, value_text

if TYPE_CHECKING:
    import store

    from . import schema


@dataclass(frozen=True, slots=True)
class Comparison:
    a: store.ModelInfo
    b: store.ModelInfo
    layers: store.ModelDiff
    differences: tuple[str, ...]

    @property
    def identical(self) -> bool:
        return self.a.manifest.digest == self.b.manifest.digest


def compare(a: store.ModelInfo, b: store.ModelInfo, layers: store.ModelDiff) -> Comparison:
    """Name every aspect in which two models differ; a model differs from another with another
    ID even when only its layer order or a layer's ``from`` does."""
    found: list[str] = []
    if layers.only_a or layers.only_b:
        found.append("layers")
    shared = {layer.digest for layer in layers.shared}
    order_a = [layer.digest for layer in a.layers if layer.digest in shared]
    order_b = [layer.digest for layer in b.layers if layer.digest in shared]
    if order_a != order_b:
        found.append("layer_order")
    froms_a = {layer.digest: layer.from_ for layer in a.layers}
    if any(froms_a.get(layer.digest) != layer.from_ for layer in b.layers
           if layer.digest in shared):
        found.append("from")
    if a.manifest.config.digest != b.manifest.config.digest:
        found.append("config")
    if layers.parameters:
        found.append("parameters")
    found.extend(label for label in ("template", "system", "license") if label in layers.texts)
    if a.messages != b.messages:
        found.append("messages")
    if a.manifest.digest != b.manifest.digest and not found:
        found.append("manifest")  # same content written differently, e.g. media types
    return Comparison(a, b, layers, tuple(found))


def lines(comparison: Comparison) -> Iterator[str]:
    """The human report: a verdict line, then the details."""
    a, b = (info.name.display_shortest() for info in (comparison.a, comparison.b))
    ids = (comparison.a.manifest.digest.short, comparison.b.manifest.digest.short)
    if comparison.identical:
        yield f"{a} and {b} are identical (ID {ids[0]})"
        return
    yield f"{a} ({ids[0]}) and {b} ({ids[1]}) differ in: {', '.join(comparison.differences)}"
    layers = comparison.layers
    yield (f"{plural(len(layers.shared), 'shared layer')}, {len(layers.only_a)} only in {a}, "
           f"{len(layers.only_b)} only in {b}")
    for sign, only in (("-", layers.only_a), ("+", layers.only_b)):
        for layer in only:
            kind = layer.media_type.rsplit(".", 1)[-1]
            yield f"{sign} {kind:<10}{layer.digest.short}  {human_bytes(layer.size)}"
    if "layer_order" in comparison.differences:
        yield "layers come in a different order"
    if "from" in comparison.differences:
        yield "shared layers name a different source model (from)"
    if "config" in comparison.differences:
        yield "the config differs (weights details, renderer, parser or requires)"
    for key, (left, right) in layers.parameters.items():
        yield f"parameter {key}: {value_text(left)} -> {value_text(right)}"
    for text in layers.texts.values():
        yield from text.splitlines()


def to_json(comparison: Comparison) -> schema.DiffOutput:
    from . import schema

    def ref(info: store.ModelInfo) -> schema.ModelRef:
        return schema.ModelRef(name=info.name.display_shortest(), id=str(info.manifest.digest))

    def layer_list(layers: tuple[store.Descriptor, ...]) -> list[schema.Layer]:
        return [schema.Layer.of(layer) for layer in layers]

    found = comparison.layers
    return schema.DiffOutput(
        identical=comparison.identical, a=ref(comparison.a), b=ref(comparison.b),
        differences=list(comparison.differences),  # type: ignore[arg-type]
        shared=layer_list(found.shared), only_a=layer_list(found.only_a),
        only_b=layer_list(found.only_b),
        parameters=dict(found.parameters),  # type: ignore[arg-type]
        texts=dict(found.texts),
    )
