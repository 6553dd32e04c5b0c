"""The LALR parser for ``modelfile.lark``, built on first use and its tables cached on disk.

Nothing here runs at import: ``import modelfile`` costs no Lark import and no grammar analysis,
so commands that never parse (``lamina --help``, ``list``) do not pay for them.

Why Lark's own cache and not a generated standalone parser: ``bench/modelfile_startup.py``
(whole-process wall time to the first parse, medians of 31 alternating runs, less a bare
``python -c pass``) measured 82 ms for importing Lark and loading the cached tables, 121 ms for
building the grammar on each start and 109 ms for the standalone module (0.68 and 0.90 of
building), which is a large file to import and still deserialises and compiles its lexer.
A standalone parser would also put a generated copy of Lark's runtime into this repository, to
regenerate by hand on every grammar change; the cache needs no step: Lark keys it by the
grammar, the options, its own version and Python's, and rebuilds a stale one.

This is the package's one piece of file-system code besides ``parse_file``. It never fails a
parse: a cache that cannot be written or read is skipped and the grammar built in memory.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lark import Lark

_OPTIONS: dict[str, Any] = {"parser": "lalr", "lexer": "contextual", "maybe_placeholders": False}


def grammar_text() -> str:
    from importlib.resources import files  # with its imports, 6 ms: not at package import

    return files("modelfile").joinpath("modelfile.lark").read_text(encoding="utf-8")


def cache_path(grammar: str) -> Path:
    """The cache file for this grammar, Lark and Python, in the user's cache folder."""
    import hashlib

    import lark
    from platformdirs import user_cache_dir

    key = f"{grammar}\0{lark.__version__}\0{sys.version_info[:2]}".encode()
    name = f"modelfile-grammar-{hashlib.sha256(key).hexdigest()[:16]}.lark-cache"
    return Path(user_cache_dir("lamina", appauthor=False)) / name


@cache
def parser(transformer: object) -> Lark:
    """The parser, with ``transformer`` building values inline; built once per process."""
    from lark import Lark

    grammar = grammar_text()
    path = cache_path(grammar)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Lark(grammar, **_OPTIONS, transformer=transformer)
    # Lark checks the key stored in the file, and rebuilds and rewrites a stale, truncated or
    # unreadable one; it skips writing a cache it cannot write. Two processes writing it at
    # once write the same bytes, and a reader of a half-written file rebuilds.
    return Lark(grammar, **_OPTIONS, transformer=transformer, cache=str(path))
