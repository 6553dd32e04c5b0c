"""Shell completion of model names (``lamina show <TAB>``), for bash, zsh and fish."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem


def complete_model_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Stored model names starting with ``incomplete``, as ``lamina list`` spells them."""
    from click.shell_completion import CompletionItem

    from store import Store, StoreError

    home = ctx.find_root().params.get("home")
    try:
        names = sorted(name.display_shortest() for name in Store(
            Path(home).absolute() if home is not None else None).names())
    except (StoreError, OSError):
        return []  # a completion never prints an error into the user's command line
    prefix = incomplete.casefold()
    return [CompletionItem(name) for name in names if name.casefold().startswith(prefix)]
