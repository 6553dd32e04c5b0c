"""Moving models between lamina and other tools: export (Ollama, LM Studio)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..app import App, pass_app
from ..completion import complete_model_names
from ..options import json_option, quiet_option
from ..output import human_bytes, plural

if TYPE_CHECKING:
    from store.export import ExportResult, RemoveResult

TARGETS = ("ollama", "lmstudio")
LINKS = ("hardlink", "reflink", "copy", "symlink")


@click.command()
@click.argument("name", shell_complete=complete_model_names)
@click.option("--to", "target", type=click.Choice(TARGETS), required=True,
              help="The tool whose folder receives the model.")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Ollama: its models folder [default: $OLLAMA_MODELS, else ~/.ollama/models]. "
                   "LM Studio: its home [default: found the way LM Studio finds it].")
@click.option("--link", "link", type=click.Choice(LINKS),
              help="How to place weights [default: hardlink, else reflink, else copy].")
@click.option("--force", is_flag=True, help="Replace a different file lamina finds in the way.")
@click.option("--remove", is_flag=True,
              help="Remove what an earlier export of NAME placed there (and nothing else).")
@json_option
@quiet_option
@pass_app
def export(app: App, name: str, target: str, folder: Path | None, link: str | None,
           force: bool, remove: bool, as_json: bool, quiet: bool) -> None:
    """Make a model visible to Ollama or LM Studio by linking its files into their folders.

    Every file lamina places there is recorded, so that --remove deletes exactly those.
    """
    app.quiet = quiet
    store = app.store()
    module = _target_module(target)
    root = folder if folder is not None else module.default_root()
    if remove:
        _show_removal(app, module.remove(store, name, root), as_json)
        return
    from store.link import LinkMethod

    method = LinkMethod(link) if link is not None else None
    result = module.export(store, name, root, method=method, force=force)
    _show_export(app, result, as_json)


def _target_module(target: str):  # type: ignore[no-untyped-def]
    if target == "ollama":
        from store.export import ollama

        return ollama
    from store.export import lmstudio

    return lmstudio


def _show_export(app: App, result: ExportResult, as_json: bool) -> None:
    for warning in result.warnings:
        app.warn(f"warning: {warning}")
    if as_json:
        from .. import schema

        app.emit(schema.ExportOutput.model_validate({
            "target": result.target, "root": str(result.root),
            "name": result.name.display_shortest(),
            "files": [{"path": str(f.path), "role": f.role, "method": f.method, "size": f.size}
                      for f in result.files],
            "new_size": result.new_bytes, "warnings": list(result.warnings),
        }))
        return
    for placed in result.files:
        app.status(f"{placed.method:<9} {_relative(placed.path, result.root)}")
    app.echo(f"exported {result.name.display_shortest()} to {result.root} "
             f"({plural(len(result.files), 'file')}, {human_bytes(result.new_bytes)} new on disk)")


def _show_removal(app: App, result: RemoveResult, as_json: bool) -> None:
    if as_json:
        from .. import schema

        app.emit(schema.ExportRemovalOutput.model_validate({
            "target": result.target, "root": str(result.root), "name": result.name,
            "removed": [str(p) for p in result.removed],
            "kept": [{"path": str(p), "reason": r} for p, r in result.kept],
        }))
        return
    for path in result.removed:
        app.status(f"removed   {_relative(path, result.root)}")
    for path, reason in result.kept:
        app.warn(f"kept {path}: {reason}")
    app.echo(f"removed {plural(len(result.removed), 'file')} lamina placed in {result.root}")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
