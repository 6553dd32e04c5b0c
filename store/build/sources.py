"""Finding sources: what a Modelfile's FROM, ADAPTER and DRAFT values point at.

A value that names an existing path is weights: a GGUF file, a shard of a split GGUF (its whole
group is merged into one layer, whichever shard is named), or a folder of them. Any other FROM
value is a model name, looked up in the store: a ``ParentModel`` when it is there, a
``MissingParent`` (data, not an error) when it is not, so a caller can pull it first.

Ollama uploads only the file named, so a DRAFT or ADAPTER naming one shard fails there ("split
GGUF has 1 shards, expected 3"); lamina treats every weights value alike and merges the group.
A folder gives its ``*.gguf`` files, as Ollama's ``filesForModel`` does when it holds no
safetensors.

Only the file system is read here, never the store's blobs, and nothing is written.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CreateError, InvalidName, ModelNotFound, StorageError
from ..gguf_merge import shard_group
from ..names import Name

if TYPE_CHECKING:
    import modelfile

__all__ = [
    "GGUFFile", "MissingParent", "ParentModel", "ShardGroup", "Sources", "Weights", "find_sources",
]

# A value written like a path is never taken for a model name, even when nothing is there.
_PATH_LIKE = re.compile(r"^(?:\.{1,2}[/\\]|[/\\~]|[A-Za-z]:[/\\])|\.(?:gguf|bin)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class GGUFFile:
    """One GGUF file; ``value`` is the Modelfile text that led to it."""

    path: Path
    value: str

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.path,)

    @property
    def label(self) -> str:
        return self.path.name


@dataclass(frozen=True, slots=True)
class ShardGroup:
    """The shards of one split GGUF that were named or found; the merge finds the rest."""

    shards: tuple[Path, ...]
    value: str

    @property
    def paths(self) -> tuple[Path, ...]:
        return self.shards

    @property
    def label(self) -> str:
        return self.shards[0].name


Weights = GGUFFile | ShardGroup


@dataclass(frozen=True, slots=True)
class ParentModel:
    """FROM a model in the store: ``spelled`` as the Modelfile writes it, ``name`` as stored."""

    spelled: str
    name: Name


@dataclass(frozen=True, slots=True)
class MissingParent:
    """FROM a model name the store does not hold (yet)."""

    spelled: str


@dataclass(frozen=True, slots=True)
class Sources:
    """Everything a Modelfile builds on: base weights or a parent, an adapter, drafts."""

    base: tuple[Weights, ...] | ParentModel | MissingParent
    adapter: Weights | None = None
    drafts: tuple[Weights, ...] = ()


Lookup = Callable[[str], Name]  # a stored model's name; raises ModelNotFound or InvalidName


def find_sources(recipe: modelfile.Recipe, base_dir: Path, lookup: Lookup) -> Sources:
    """Resolve every FROM, ADAPTER and DRAFT value of ``recipe``; paths are read from
    ``base_dir`` when relative."""
    base = _base(recipe.froms, base_dir, lookup)
    adapter = _one(recipe.adapter, base_dir, "ADAPTER") if recipe.adapter is not None else None
    drafts = tuple(_one(value, base_dir, "DRAFT") for value in recipe.drafts)
    if isinstance(base, tuple):
        _refuse_shared_paths(base, drafts)
    return Sources(base, adapter, drafts)


def _base(
    values: Sequence[str], base_dir: Path, lookup: Lookup
) -> tuple[Weights, ...] | ParentModel | MissingParent:
    files: list[tuple[Path, str]] = []
    names: list[str] = []
    for value in values:
        path = _expand(value, base_dir)
        if _exists(path, value, "FROM"):
            files.extend((found, value) for found in _gguf_files(path))
        elif _PATH_LIKE.search(value):
            raise CreateError(f"FROM {value}: no such file ({path})")
        else:
            names.append(value)
    if files and names:
        raise CreateError(
            f"FROM names both files and the model {names[-1]!r}; a Modelfile builds on one or "
            "the other"
        )
    if names:  # as in Ollama, the last name wins
        return _parent(names[-1], lookup)
    return _units(files)


def _parent(value: str, lookup: Lookup) -> ParentModel | MissingParent:
    try:
        return ParentModel(value, lookup(value))
    except InvalidName as exc:
        raise CreateError(
            f"FROM {value}: not a file, and not a valid model name ({exc.reason})"
        ) from exc
    except ModelNotFound:
        return MissingParent(value)


def _one(value: str, base_dir: Path, keyword: str) -> Weights:
    """ADAPTER and DRAFT name one set of weights: a file, a split GGUF, or a folder of one."""
    path = _expand(value, base_dir)
    if not _exists(path, value, keyword):
        raise CreateError(f"{keyword} {value}: no such file ({path})")
    units = _units([(found, value) for found in _gguf_files(path)])
    if len(units) != 1:
        names = ", ".join(unit.label for unit in units)
        raise CreateError(
            f"{keyword} {value}: expected one GGUF model, found {len(units)} ({names}); "
            "name the file itself"
        )
    return units[0]


def _units(files: Sequence[tuple[Path, str]]) -> tuple[Weights, ...]:
    """Plain GGUF files sorted by name, then each split GGUF's shards as one group."""
    singles: dict[Path, GGUFFile] = {}
    groups: dict[tuple[Path, str, int], list[Path]] = {}
    values: dict[tuple[Path, str, int], str] = {}
    for path, value in sorted(files, key=lambda item: item[0].name):
        group = shard_group(path)
        if group is None:
            singles.setdefault(path, GGUFFile(path, value))
            continue
        key = (path.parent, group[0], group[2])
        values.setdefault(key, value)
        if path not in groups.setdefault(key, []):
            groups[key].append(path)
    shards = (ShardGroup(tuple(paths), values[key]) for key, paths in groups.items())
    return (*singles.values(), *shards)


def _refuse_shared_paths(base: tuple[Weights, ...], drafts: tuple[Weights, ...]) -> None:
    used = {path for unit in base for path in unit.paths}
    for draft in drafts:
        if used.intersection(draft.paths):
            raise CreateError(
                f"DRAFT {draft.value}: the same file as FROM; a draft model is a second, "
                "smaller model"
            )


def _expand(value: str, base_dir: Path) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else (base_dir / path)


def _exists(path: Path, value: str, keyword: str) -> bool:
    """Whether ``path`` exists; a name too long to be a path is no file (it may be a model
    name); any other refusal by the system is a StorageError naming the path."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG and keyword == "FROM" and not _PATH_LIKE.search(value):
            return False
        raise StorageError.from_oserror(exc, path, f"cannot read the {keyword} path") from exc
    return True


def _gguf_files(path: Path) -> list[Path]:
    """The GGUF file itself, or the ``*.gguf`` files of a folder, with links resolved."""
    try:
        if path.is_file():
            return [path.resolve()]
        if not path.is_dir():  # a device, a pipe or a socket: never weights
            raise CreateError(f"{path}: not a regular file or a folder; name a GGUF file, or "
                              "a folder holding one")
        found = sorted(p.resolve() for p in path.glob("*.gguf") if p.is_file())
    except OSError as exc:
        raise StorageError.from_oserror(exc, path, "cannot read the folder") from exc
    except RuntimeError as exc:  # Path.resolve on a link that points at itself
        raise CreateError(f"{path}: a symbolic link loop; point the Modelfile at the file") \
            from exc
    if not found:
        has_safetensors = any(path.glob("*.safetensors"))
        detail = (
            "it holds safetensors weights; convert them to GGUF first"
            if has_safetensors else "it holds no .gguf file"
        )
        raise CreateError(f"{path}: cannot build from this folder: {detail}")
    return found
