"""GGUF classification: which layer a GGUF file makes, and which sets of base weights can run.

The media type follows Ollama's ``ggufLayersWithMediaType`` and ``isProjectorGGUF``
(server/create.go): ``general.type`` "adapter" makes an adapter layer; "projector" or "mmproj",
a vision-only header or a clip encoder without text blocks makes a projector layer; anything
else is model weights.

Ollama stores whatever FROM gives it, even a set of files that cannot run: an adapter or a
projector alone (no weights to run), or two unrelated models (one of them is never used).
lamina refuses those, saying what to write instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from ocitypes import mediatypes

from ..errors import CreateError, GGUFError
from ..gguf import GGUFInfo

__all__ = ["check_adapter", "check_base", "media_type"]


def media_type(info: GGUFInfo) -> str:
    """The layer media type Ollama gives a GGUF file named by FROM."""
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


def check_adapter(path: str, info: GGUFInfo) -> None:
    """ADAPTER must name a LoRA adapter GGUF."""
    if info.general_type != "adapter":
        raise GGUFError(path, "ADAPTER needs a LoRA adapter GGUF (general.type adapter), "
                              f"this one is {info.general_type or 'a model'}")


def check_base(kinds: Sequence[tuple[str, str]]) -> None:
    """Refuse base weights that cannot run; ``kinds`` holds each file's label and media type."""
    models = [label for label, kind in kinds if kind == mediatypes.MODEL]
    if len(models) > 1:
        raise CreateError(
            f"FROM gives {len(models)} models ({', '.join(models)}), but a model runs one set "
            "of weights (Ollama would store them all and use one); build each as its own model "
            "(the shards of one split GGUF are named <name>-00001-of-0000N.gguf)"
        )
    if models or not kinds:
        return
    label, kind = kinds[0]
    if kind == mediatypes.ADAPTER:
        raise CreateError(
            f"FROM {label} is a LoRA adapter, not a model: it changes a base model's weights "
            "and cannot run alone (Ollama would store it without weights). Write FROM <the "
            f"base model> and ADAPTER {label}"
        )
    raise CreateError(
        f"FROM {label} is a vision or audio projector, not a model: it cannot run alone "
        f"(Ollama would store it without weights). Add FROM <the model's GGUF> beside "
        f"FROM {label}"
    )


def _uint(info: GGUFInfo, key: str) -> int:
    value = info.metadata.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
