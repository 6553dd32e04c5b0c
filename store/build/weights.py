"""Blob writes: weights linked into the store (or merged, for a split GGUF) and new layers' bytes.

Headers are read first (``probe``), so that a Modelfile refused for what its files hold leaves
the store untouched; ``place`` and ``write_pending`` then write, under the caller's
``Store.writing`` hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ocitypes import Descriptor, mediatypes

from ..blobs import ImportResult, Progress
from ..gguf import GGUFInfo, read_info
from ..gguf_merge import MergePlan, plan_merge
from ..models import Store
from .layers import Layer, Pending
from .sources import GGUFFile, Weights

__all__ = ["Placed", "Probed", "Reporter", "place", "probe", "write_pending"]


class Reporter(Protocol):
    """How ``create`` tells its caller what it is doing; the library itself never prints."""

    def status(self, text: str) -> None: ...

    def hashing(self, label: str, size: int) -> AbstractContextManager[Progress]: ...


@dataclass(frozen=True, slots=True)
class Probed:
    """Weights whose header was read: ``info`` is the file's (shard 1's, for a split GGUF)."""

    unit: Weights
    info: GGUFInfo
    plan: MergePlan | None = None  # the checked merge of a split GGUF's shards


@dataclass(frozen=True, slots=True)
class Placed:
    """Weights in the store: their layer, their header, how each source file got there."""

    descriptor: Descriptor
    info: GGUFInfo
    imports: tuple[tuple[Path, ImportResult], ...] = ()


def probe(unit: Weights, report: Reporter) -> Probed:
    """Read the header (every shard's, for a split GGUF); GGUFError when it is no sound GGUF."""
    if isinstance(unit, GGUFFile):
        report.status(f"parsing GGUF {unit.label}")
        return Probed(unit, read_info(unit.path))
    plan = plan_merge(unit.shards)
    report.status(f"parsing GGUF {plan.shards[0].name}")
    return Probed(unit, read_info(plan.shards[0]), plan)


def place(store: Store, probed: Probed, media_type: str, report: Reporter) -> Placed:
    """Link or copy a GGUF file into the store, or merge a split one into one blob."""
    if probed.plan is not None:
        return _merge(store, probed.plan, media_type, report)
    assert isinstance(probed.unit, GGUFFile)
    path = probed.unit.path
    with report.hashing(path.name, path.stat().st_size) as progress:
        result = store.blobs.import_file(path, progress=progress)
    verb = "using existing" if result.method is None else "creating new"
    report.status(f"{verb} layer {result.digest}")
    # Ollama rewrites plain model layers on import, which drops their provenance; the other
    # weight layers keep the file they came from.
    origin = None if media_type == mediatypes.MODEL else path.name
    descriptor = Descriptor(media_type, result.digest, result.size, from_=origin)
    return Placed(descriptor, probed.info, ((path, result),))


def _merge(store: Store, plan: MergePlan, media_type: str, report: Reporter) -> Placed:
    """A split GGUF becomes one layer: the shards merged into one file, streamed."""
    report.status(f"merging {len(plan.shards)} shards of {plan.shards[0].name}")
    with report.hashing(plan.shards[0].name, plan.size) as progress:
        blob = store.blobs.put_stream(plan.chunks(), progress=progress)
    report.status(f"creating new layer {blob.digest}")
    info = read_info(store.blobs.path(blob.digest))
    return Placed(Descriptor(media_type, blob.digest, blob.size), info)


def write_pending(store: Store, layers: Sequence[Layer]) -> list[Descriptor]:
    """Every layer as a descriptor, writing the blobs of the pending ones."""
    return [_write(store, layer) if isinstance(layer, Pending) else layer for layer in layers]


def _write(store: Store, layer: Pending) -> Descriptor:
    blob = store.blobs.put_bytes(layer.data)
    return Descriptor(layer.media_type, blob.digest, blob.size)

