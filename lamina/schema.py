"""Every ``--json`` output of lamina, described once. Imported only when ``--json`` is given.

The convention, the same for every command (and every command to come):

- stdout carries exactly one JSON object on one line; progress and warnings go to stderr;
- keys are snake_case; a field of the same name means the same thing in every command;
- byte counts are integers under ``size`` or a key ending in ``_size``;
- digests, model IDs included, are ``sha256:<64 hex>``; names are as ``lamina list`` shows them;
- times are RFC 3339 in UTC; enumerations are lower-case words, never prose;
- a failure prints ``{"error": {"code", "message"}}`` on stdout and exits 1 (2 for usage).

``python -m lamina.schema`` prints the JSON Schema that ``docs/cli-output.schema.json`` holds.
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import models_json_schema

from .errors import ERROR_CODES

if TYPE_CHECKING:
    import store

Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
Size = Annotated[int, Field(ge=0, description="bytes")]
ParameterValue = bool | int | float | str | list[str]
ErrorCode = Literal[ERROR_CODES]  # type: ignore[valid-type]
ImportMethod = Literal["reflink", "hardlink", "copy", "cached", "present"]
"""How ``create`` placed a file: linked or copied it, or found its blob already stored (its hash
read from lamina's hash cache, ``cached``, or computed, ``present``)."""


class Shape(BaseModel):
    # Built when first used, not at import: one command's output uses two or three of these
    # models, so building the others would be wasted start-up time.
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True,
                              validate_by_name=True, validate_by_alias=True, defer_build=True)


class ErrorDetail(Shape):
    code: ErrorCode
    message: str


class ErrorOutput(Shape):
    """Any command, when it fails."""

    error: ErrorDetail

    @classmethod
    def of(cls, code: str, message: str) -> ErrorOutput:
        return cls(error=ErrorDetail(code=code, message=message))


class Layer(Shape):
    media_type: str
    digest: Digest
    size: Size
    from_: str | None = Field(default=None, alias="from",
                              description="the model this layer was inherited from")

    @classmethod
    def of(cls, layer: store.Descriptor) -> Layer:
        return cls.model_validate({"media_type": layer.media_type, "digest": str(layer.digest),
                                   "size": layer.size, "from": layer.from_ or None})


class Blob(Shape):
    digest: Digest
    size: Size


class ModelRef(Shape):
    name: str
    id: Digest


class ListedModel(Shape):
    name: str
    id: Digest | None = Field(description="null only for a manifest file that cannot be read")
    size: Size
    modified: datetime.datetime
    status: Literal["ok", "damaged"] = "ok"
    problem: str | None = Field(default=None, description="why a damaged manifest is damaged")


class ListOutput(Shape):
    """``lamina list --json``"""

    models: list[ListedModel]


class Message(Shape):
    role: str
    content: str


class ShowOutput(Shape):
    """``lamina show --json``"""

    name: str
    id: Digest
    size: Size
    architecture: str | None
    model_type: str | None = Field(
        description="the parameter count as Ollama's config records it, e.g. 268M")
    parameter_count: int | None
    quantization: str | None
    context_length: int | None
    embedding_length: int | None
    parameters: dict[str, ParameterValue] = Field(description="runtime PARAMETER values")
    template: str | None
    system: str | None
    licenses: list[str]
    messages: list[Message]
    layers: list[Layer]


class Import(Shape):
    path: str
    digest: Digest
    size: Size
    method: ImportMethod
    hashed: bool = Field(description="false when lamina's hash cache answered")


class Diagnostic(Shape):
    severity: Literal["error", "warning"]
    line: int
    column: int
    message: str


class ChosenTemplate(Shape):
    name: str = Field(description="the prompt-format family, e.g. qwen2.5, llama3, gemma3")
    title: str
    chosen_by: Literal["chat_template", "architecture"] = Field(
        description="the weights' Jinja chat template, or their architecture when they carry none")
    stop: list[str] = Field(description="the stop words set with it (PARAMETER stop overrides)")


class CreateOutput(Shape):
    """``lamina create --json``"""

    name: str
    id: Digest
    size: Size
    layers: list[Layer]
    imports: list[Import]
    template: ChosenTemplate | None = Field(
        default=None, description="the TEMPLATE lamina chose for weights that carry only a "
                                  "Jinja chat template; null when none was chosen")
    warnings: list[Diagnostic] = Field(default_factory=list)


class Removed(Shape):
    name: str
    id: Digest
    freed_blobs: list[Blob]
    freed_size: Size
    warnings: list[str] = Field(default_factory=list,
                                description="what was odd: a damaged manifest, a missing blob")


class RmOutput(Shape):
    """``lamina rm --json``"""

    removed: list[Removed]


class CpOutput(Shape):
    """``lamina cp --json``"""

    source: str
    destination: str
    id: Digest
    pruned_blobs: list[Digest] = Field(
        default_factory=list, description="blobs of the replaced model that nothing else used")


ParameterChange = tuple[ParameterValue | None, ParameterValue | None]
DiffAspect = Literal["layers", "layer_order", "from", "config", "parameters", "template",
                     "system", "license", "messages"]


class DiffOutput(Shape):
    """``lamina diff --json``: ``identical`` exactly when both models have the same ID."""

    identical: bool
    a: ModelRef
    b: ModelRef
    differences: list[DiffAspect]
    shared: list[Layer]
    only_a: list[Layer]
    only_b: list[Layer]
    parameters: dict[str, ParameterChange] = Field(
        description="runtime parameters that differ: [a's value, b's value], null when unset")
    texts: dict[str, str] = Field(description="a unified diff per differing text")


class TempFile(Shape):
    path: str
    size: Size


class GcOutput(Shape):
    """``lamina gc --json``"""

    dry_run: bool
    grace_seconds: float
    deleted_blobs: list[Blob]
    deleted_temp_files: list[TempFile]
    freed_size: Size
    kept_blobs: list[Blob] = Field(description="unused blobs younger than the grace period")


class DuOutput(Shape):
    """``lamina du --json``"""

    models: int
    logical_size: Size
    stored_size: Size
    on_disk_size: Size
    saved_by_dedupe_size: int
    shared_with_sources_size: Size
    unreferenced_size: Size
    partial_size: Size
    """Pulls in progress or interrupted."""
    upload_size: Size
    """Upload sessions of a server."""
    temp_size: Size
    """Temp files of interrupted writes; gc deletes them once past its grace period."""
    damaged_manifests: int = 0
    """Manifest files that do not read as manifests (``lamina list`` marks them)."""
    held_by_damaged_size: Size = 0
    """Blobs only a damaged manifest names: kept by gc until it is fixed or removed."""


class CorruptBlob(Shape):
    digest: Digest
    actual_digest: Digest


class MissingBlob(Shape):
    digest: Digest
    model: str


class VerifyOutput(Shape):
    """``lamina verify --json``"""

    ok: bool
    checked: int
    corrupt: list[CorruptBlob]
    missing: list[MissingBlob]
    damaged_manifests: list[str]


class Instruction(Shape):
    line: int
    instruction: str
    value: str
    name: str | None = None
    role: str | None = None


class CheckedFile(Shape):
    file: str
    ok: bool
    instructions: list[Instruction]
    diagnostics: list[Diagnostic]


class CheckOutput(Shape):
    """``lamina check --json``"""

    ok: bool
    errors: int
    warnings: int
    files: list[CheckedFile]


ExportTarget = Literal["ollama", "lmstudio"]
ExportMethod = Literal["hardlink", "reflink", "copy", "symlink", "written", "present",
                       "unchanged"]
"""How an export placed a file: linked or copied a blob, wrote a small file, or found it there."""


class ExportedFile(Shape):
    path: str
    role: Literal["manifest", "blob", "weights", "shard", "projector", "model.yaml"]
    method: ExportMethod
    size: Size


class ExportOutput(Shape):
    """``lamina export --json``"""

    target: ExportTarget
    root: str
    name: str
    files: list[ExportedFile]
    new_size: Size = Field(description="bytes the export added to the disk (copies only)")
    warnings: list[str]


class KeptFile(Shape):
    path: str
    reason: str


class ExportRemovalOutput(Shape):
    """``lamina export --remove --json``"""

    target: ExportTarget
    root: str
    name: str
    removed: list[str]
    kept: list[KeptFile]


class ImportedModel(Shape):
    name: str
    status: Literal["imported", "unchanged", "skipped"]
    detail: str = Field(description="why a model was skipped; empty otherwise")
    linked_size: Size = Field(description="bytes brought in by link or copy")
    copied_size: Size = Field(description="of those, bytes that had to be copied")


class ImportOutput(Shape):
    """``lamina import --json``"""

    source: ExportTarget
    root: str
    models: list[ImportedModel]


class DuplicateGroup(Shape):
    digest: Digest
    size: Size
    keep: str
    copies: list[str]
    unlinkable: list[str] = Field(description="copies on another file system")


class DedupeOutput(Shape):
    """``lamina dedupe --json``"""

    applied: bool
    saved_size: Size = Field(description="bytes freed, or that --apply would free")
    groups: list[DuplicateGroup]
    failures: list[KeptFile]


TransferAction = Literal["fetched", "resumed", "skipped", "sent", "mounted", "present"]
"""What became of a blob: fetched or skipped (already in the store) by a pull; sent, mounted (from
another repository of the registry) or present (already there) for a push; resumed: finishing
an interrupted pull, or a push whose upload session the registry still held."""


class TransferredBlob(Shape):
    digest: Digest
    media_type: str
    size: Size
    action: TransferAction
    transferred_size: Size = Field(description="blob bytes that crossed the network")


class PullOutput(Shape):
    """``lamina pull --json``"""

    name: str
    id: Digest
    reference: str = Field(description="the registry reference pulled, host/repository:tag")
    blobs: list[TransferredBlob]
    transferred_size: Size = Field(description="bytes fetched: blobs and the manifest")


class HubFile(Shape):
    path: str = Field(description="the file's path in the Hugging Face repository")
    digest: Digest
    size: Size
    action: Literal["downloaded", "present"]
    linked: Literal["hardlink", "copy", "store only"] = Field(
        description="hardlink: one inode shared by the HF cache and the store; copy: they are "
                    "on different file systems; store only: the HF cache could not link it")
    transferred_size: Size = Field(description="bytes that crossed the network")


class HubPullOutput(Shape):
    """``lamina pull hf.co/user/repo[:quant] --json``"""

    name: str
    id: Digest
    repository: str = Field(description="user/repo on Hugging Face")
    revision: str = Field(description="the commit the files came from")
    quant: str
    files: list[HubFile]
    transferred_size: Size


class PushOutput(Shape):
    """``lamina push --json``"""

    name: str
    id: Digest
    reference: str = Field(description="the registry reference pushed to")
    blobs: list[TransferredBlob]
    transferred_size: Size = Field(description="bytes sent: blobs and the manifest")


class LoginOutput(Shape):
    """``lamina login --json``"""

    host: str
    username: str
    path: str = Field(description="the credentials file written (mode 0600)")


class LockedName(Shape):
    name: str = Field(description="the FROM name as the Modelfile spells it")
    digest: Digest


class LockOutput(Shape):
    """``lamina lock --json``"""

    path: str
    locked: list[LockedName]


class SaveOutput(Shape):
    """``lamina save --json``"""

    path: str
    size: Size
    blobs: int
    models: list[ModelRef]


class LoadOutput(Shape):
    """``lamina load --json``"""

    added_blobs: int
    present_blobs: int = Field(description="blobs the store had already, not written again")
    models: list[ModelRef]


class ServeOutput(Shape):
    """``serve``, once it is listening: where, and how clients sign in."""

    url: str
    auth: Literal["none", "htpasswd", "keys", "htpasswd+keys"]
    store: str
    mirror: str | None = Field(None, description="the upstream registry pulls the store cannot "
                                                 "serve are fetched from (--mirror), or null")


OUTPUTS: tuple[type[Shape], ...] = (
    ErrorOutput, ListOutput, ShowOutput, CreateOutput, RmOutput, CpOutput, DiffOutput,
    GcOutput, DuOutput, VerifyOutput, CheckOutput, ExportOutput, ExportRemovalOutput,
    ImportOutput, DedupeOutput, SaveOutput, LoadOutput,
    PullOutput, HubPullOutput, PushOutput, LoginOutput, LockOutput,
    ServeOutput,
)  # fmt: skip


def json_schema() -> dict[str, object]:
    """One JSON Schema document whose ``$defs`` describe every output."""
    _, schema = models_json_schema(
        [(model, "serialization") for model in OUTPUTS],
        title="lamina --json outputs",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
