"""Choosing which GGUF files of a Hugging Face repository make the model a quant tag names.

Pure: given the repository's file list (path, size, LFS sha256), pick the model file or its
split shards (``-00001-of-00003.gguf``) whose name carries the quant tag, compared without
case, and a projector (``mmproj*``) when the repository has one. No tag means Q4_K_M, as
Ollama's Hugging Face pulls default to; without one, the error lists the quants there are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..names import HUB_HOSTS, parse_hub_name
from .errors import HubSelectionError

__all__ = [
    "DEFAULT_QUANT",
    "HUB_HOSTS",
    "HubFile",
    "NoGGUF",
    "Selection",
    "UnknownQuant",
    "parse_hub_name",
    "select",
]

DEFAULT_QUANT = "Q4_K_M"

_SHARD = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
# Quant names as llama.cpp spells them in file names: Q4_K_M, IQ2_XXS, Q8_0, F16, BF16, …
_QUANT = re.compile(r"(?<![A-Za-z0-9])((?:I?Q\d(?:_[A-Z0-9]+)*)|BF16|F16|F32)(?![A-Za-z0-9])",
                    re.IGNORECASE)



class NoGGUF(HubSelectionError):
    def __init__(self, repo: str) -> None:
        self.repo = repo
        super().__init__(f"hf.co/{repo} has no GGUF files; lamina builds models from GGUF "
                         "weights (convert safetensors with llama.cpp first)")


class UnknownQuant(HubSelectionError):
    def __init__(self, repo: str, quant: str | None, available: list[str]) -> None:
        self.repo = repo
        self.quant = quant
        self.available = available
        asked = f"no {quant} file" if quant else f"no {DEFAULT_QUANT} file to default to"
        super().__init__(f"hf.co/{repo}: {asked}; quants there: {', '.join(available) or 'none'}"
                         f" (name one, as hf.co/{repo}:{available[0] if available else 'Q8_0'})")


@dataclass(frozen=True, slots=True)
class HubFile:
    """One file of a repository: its path there, size and sha256 from the Hub's LFS record."""

    path: str
    size: int
    sha256: str | None

    @property
    def basename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Selection:
    """The files a model is built from: weights (one file or its shards, in order), projector."""

    quant: str
    weights: tuple[HubFile, ...]
    projector: HubFile | None

    @property
    def files(self) -> tuple[HubFile, ...]:
        return (*self.weights, *((self.projector,) if self.projector else ()))


def quant_of(path: str) -> str | None:
    """The quant a file name carries, upper-cased, or None."""
    found = _QUANT.findall(path.rsplit("/", 1)[-1]) or _QUANT.findall(path)
    return found[-1].upper() if found else None


def select(repo: str, files: list[HubFile], quant: str | None) -> Selection:
    """The weights and projector for ``quant`` (``None`` or ``latest``: the default)."""
    ggufs = [f for f in files if f.path.lower().endswith(".gguf")]
    projectors = sorted((f for f in ggufs if f.basename.lower().startswith("mmproj")),
                        key=lambda f: f.path)
    units = _units([f for f in ggufs if f not in projectors])
    if not units:
        raise NoGGUF(repo)
    available = sorted({q for unit in units if (q := quant_of(unit[0].path))})
    wanted = quant if quant and quant.lower() != "latest" else None
    chosen = _matching(units, wanted or DEFAULT_QUANT)
    if chosen is None and wanted is None and len(units) == 1:
        chosen = units[0]
    if chosen is None:
        raise UnknownQuant(repo, wanted, available)
    return Selection(quant_of(chosen[0].path) or (wanted or "").upper(), chosen,
                     _projector(projectors))


def _units(ggufs: list[HubFile]) -> list[tuple[HubFile, ...]]:
    """Single files, and each split GGUF's shards as one unit in shard order."""
    singles: list[tuple[HubFile, ...]] = []
    groups: dict[tuple[str, str], list[tuple[int, HubFile]]] = {}
    for file in sorted(ggufs, key=lambda f: f.path):
        match = _SHARD.match(file.path)
        if match is None:
            singles.append((file,))
        else:
            key = (match["stem"], match["count"])
            groups.setdefault(key, []).append((int(match["index"]), file))
    shards = [tuple(f for _, f in sorted(members)) for members in groups.values()]
    return singles + shards


def _matching(units: list[tuple[HubFile, ...]], quant: str) -> tuple[HubFile, ...] | None:
    """The unit whose file name carries ``quant`` as a whole word, ignoring case."""
    token = re.compile(rf"(?<![A-Za-z0-9]){re.escape(quant)}(?![A-Za-z0-9])", re.IGNORECASE)
    found = [unit for unit in units if token.search(unit[0].path)]
    # The shortest name is the plain file (model-Q4_K_M.gguf before model-UD-Q4_K_M-v2.gguf).
    return min(found, key=lambda unit: (len(unit[0].path), unit[0].path)) if found else None


def _projector(projectors: list[HubFile]) -> HubFile | None:
    """A repository's projector: the F16 one when there are several (llama.cpp's default)."""
    if not projectors:
        return None
    f16 = [p for p in projectors if quant_of(p.path) == "F16"]
    return (f16 or projectors)[0]
