"""Reading models back: what ``show`` and ``diff`` print, and a Modelfile that rebuilds one."""

from __future__ import annotations

from dataclasses import dataclass, field

from ocitypes import Descriptor, Manifest, gojson, mediatypes

from .config import ModelConfig
from .errors import BlobInvalid, blob_json_errors
from .gguf import GGUFInfo
from .models import Store
from .names import Name

LICENSE_HEAD_LINES = 3


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Everything ``show`` tells about one model."""

    name: Name
    manifest: Manifest
    config: ModelConfig
    weights: GGUFInfo | None
    template: str | None = None
    system: str | None = None
    parameters: dict[str, object] = field(default_factory=dict)
    licenses: tuple[str, ...] = ()
    messages: tuple[dict[str, object], ...] = ()

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers

    def to_json(self) -> dict[str, object]:
        weights = self.weights
        return {
            "name": self.name.display_shortest(),
            "id": str(self.manifest.digest),
            "size": self.manifest.total_size,
            "architecture": self.config.model_family,
            "parameters": self.config.model_type,
            "parameter_count": weights.parameter_count if weights else None,
            "quantization": self.config.file_type,
            "context_length": weights.context_length if weights else None,
            "embedding_length": weights.embedding_length if weights else None,
            "template": self.template,
            "system": self.system,
            "params": self.parameters,
            "license": list(self.licenses),
            "messages": list(self.messages),
            "layers": [layer.to_json() for layer in self.manifest.layers],
        }


def _text(store: Store, layer: Descriptor) -> str:
    return store.blobs.read_bytes(layer.digest).decode("utf-8", errors="replace")




_DAMAGED = "the layer is damaged; run 'lamina verify' and create the model again"


def _parameters(values: dict[str, object], where: str) -> dict[str, object]:
    """The values a params layer holds, refused unless each is one Ollama writes (a number,
    bool or string, or a list of strings): anything else could only be shown as Python text."""
    for key, value in values.items():
        scalar = isinstance(value, bool | int | float | str)
        if not scalar and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            shown = gojson.marshal(value, escape_html=False).decode()
            raise BlobInvalid(f"{where}: {key} is {shown}, not a parameter value; {_DAMAGED}")
    return values


def _messages(listed: list[object], where: str) -> tuple[dict[str, object], ...]:
    """A messages layer's entries, each an object with a string role and content."""
    for position, message in enumerate(listed):
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)
                and isinstance(message.get("content", ""), str)):
            raise BlobInvalid(f"{where}: message {position + 1} is not an object with a string "
                              f"role and content; {_DAMAGED}")
    return tuple(listed)  # type: ignore[arg-type]  # each entry checked to be a dict above


def show(store: Store, name: str | Name) -> ModelInfo:
    """Read a model's config, weights header and text layers."""
    found = store.resolve(name)
    manifest = store.manifest(found)
    config = ModelConfig.parse(store.blobs.read_bytes(manifest.config.digest))
    models = manifest.layers_of(mediatypes.MODEL)
    weights = store.weights_info(models[-1].digest) if models else None
    template = system = None
    parameters: dict[str, object] = {}
    licenses: list[str] = []
    messages: tuple[dict[str, object], ...] = ()
    for layer in manifest.layers:
        kind = layer.media_type
        if kind in (mediatypes.TEMPLATE, mediatypes.LEGACY_PROMPT):
            template = _text(store, layer)
        elif kind == mediatypes.SYSTEM:
            system = _text(store, layer)
        elif kind == mediatypes.LICENSE:
            licenses.append(_text(store, layer))
        elif kind == mediatypes.PARAMS:
            data = store.blobs.read_bytes(layer.digest)
            where = f"params layer {layer.digest}"
            with blob_json_errors():
                parameters.update(_parameters(gojson.load_object(data, where), where))
        elif kind == mediatypes.MESSAGES:
            data = store.blobs.read_bytes(layer.digest)
            where = f"messages layer {layer.digest}"
            with blob_json_errors():
                messages = _messages(gojson.load_array(data, where), where)
    return ModelInfo(found, manifest, config, weights, template, system, parameters,
                     tuple(licenses), messages)


def rebuild_modelfile(store: Store, info: ModelInfo) -> str:
    """A Modelfile that re-creates the model, its weights named by their blob paths.

    For a model built from one GGUF file the result is the same manifest, byte for byte. With
    several weight files the layers may come in another order (``create`` sorts files by name,
    and blob names are digests), and provenance (``from``) fields are not carried over.
    """
    import modelfile  # imported here: its parser checks each quoted value, and show needs none

    lines = [f"# Modelfile generated by lamina show {info.name.display_shortest()}"]
    weight_keywords = {
        mediatypes.MODEL: "FROM", mediatypes.PROJECTOR: "FROM",
        mediatypes.ADAPTER: "ADAPTER", mediatypes.DRAFT: "DRAFT",
    }
    for layer in info.layers:
        keyword = weight_keywords.get(layer.media_type)
        if keyword:
            lines.append(f"{keyword} {modelfile.quote(str(store.blobs.path(layer.digest)))}")
    if info.template is not None:
        lines.append(f"TEMPLATE {modelfile.quote(info.template)}")
    if info.system is not None:
        lines.append(f"SYSTEM {modelfile.quote(info.system)}")
    for keyword, setting in (("RENDERER", info.config.renderer), ("PARSER", info.config.parser),
                             ("REQUIRES", info.config.requires)):
        if setting:
            lines.append(f"{keyword} {modelfile.quote(setting)}")
    for key, value in info.parameters.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"PARAMETER {key} {modelfile.quote(_parameter_text(item))}")
    lines.extend(f"LICENSE {modelfile.quote(text)}" for text in info.licenses)
    for message in info.messages:
        text = str(message.get("content", ""))
        lines.append(f"MESSAGE {message.get('role')} {modelfile.quote(text)}")
    return "\n".join(lines) + "\n"


def _parameter_text(value: object) -> str:
    """A params value as Modelfile text; never Go's ``1e+06`` that would not parse as an int."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class ModelDiff:
    """Layers both models share or not, and how their parameters and texts differ."""

    shared: tuple[Descriptor, ...]
    only_a: tuple[Descriptor, ...]
    only_b: tuple[Descriptor, ...]
    parameters: dict[str, tuple[object, object]]
    texts: dict[str, str]  # "template" / "system" / "license" / "messages" -> unified diff

    @property
    def identical(self) -> bool:
        return not (self.only_a or self.only_b)

    def to_json(self) -> dict[str, object]:
        return {
            "identical": self.identical,
            "shared": [layer.to_json() for layer in self.shared],
            "only_a": [layer.to_json() for layer in self.only_a],
            "only_b": [layer.to_json() for layer in self.only_b],
            "parameters": {k: {"a": a, "b": b} for k, (a, b) in self.parameters.items()},
            "texts": self.texts,
        }


def diff(store: Store, a: str | Name, b: str | Name) -> ModelDiff:
    """Compare two models layer by layer, then their parameters, system, template and license."""
    left, right = show(store, a), show(store, b)
    left_digests = {layer.digest for layer in left.layers}
    right_digests = {layer.digest for layer in right.layers}
    missing = object()
    parameters = {
        key: (left.parameters.get(key), right.parameters.get(key))
        for key in sorted(set(left.parameters) | set(right.parameters))
        if left.parameters.get(key, missing) != right.parameters.get(key, missing)
    }
    texts = {}
    for label, one, two in (
        ("template", left.template, right.template),
        ("system", left.system, right.system),
        ("license", "\n".join(left.licenses) or None, "\n".join(right.licenses) or None),
        ("messages", _message_lines(left.messages), _message_lines(right.messages)),
    ):
        if one != two:
            texts[label] = _unified(label, left.name, right.name, one or "", two or "")
    return ModelDiff(
        shared=tuple(layer for layer in left.layers if layer.digest in right_digests),
        only_a=tuple(layer for layer in left.layers if layer.digest not in right_digests),
        only_b=tuple(layer for layer in right.layers if layer.digest not in left_digests),
        parameters=parameters,
        texts=texts,
    )


def _message_lines(messages: tuple[dict[str, object], ...]) -> str | None:
    """Messages as the MESSAGE lines that would give them, so a diff shows what changed."""
    import modelfile  # here, as in rebuild_modelfile: only diff needs the quoting

    lines = [f"MESSAGE {message.get('role')} {modelfile.quote(str(message.get('content', '')))}"
             for message in messages]
    return "\n".join(lines) or None


def _unified(label: str, a: Name, b: Name, one: str, two: str) -> str:
    import difflib  # here: show does not diff

    lines = difflib.unified_diff(
        one.splitlines(keepends=True), two.splitlines(keepends=True),
        fromfile=f"{a.display_shortest()} {label}", tofile=f"{b.display_shortest()} {label}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
