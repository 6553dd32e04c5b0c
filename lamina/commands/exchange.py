"""Moving models between lamina and other tools: export (Ollama, LM Studio)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..app import App, pass_app
from ..completion import complete_model_names
from ..options import InputPath, PathParam, json_option, quiet_option
from ..output import human_bytes, plural

if TYPE_CHECKING:
    from store.export import ExportResult, RemoveResult

TARGETS = ("ollama", "lmstudio")
LINKS = ("hardlink", "reflink", "copy", "symlink")


@click.command()
@click.argument("name", shell_complete=complete_model_names)
@click.option("--to", "target", type=click.Choice(TARGETS), required=True,
              help="The tool whose folder receives the model.")
@click.option("--dir", "folder", type=PathParam(file_okay=False, path_type=Path),
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


@click.command("import")
@click.option("--from", "source", type=click.Choice(TARGETS), required=True,
              help="The tool whose models to bring into the store.")
@click.argument("folder", required=False, type=PathParam(path_type=Path))
@click.option("--force", is_flag=True, help="Replace a different model of the same name.")
@json_option
@quiet_option
@pass_app
def import_models(app: App, source: str, folder: Path | None, force: bool, as_json: bool,
                  quiet: bool) -> None:
    """Bring Ollama's or LM Studio's models into the store, linking their files, not copying.

    FOLDER is Ollama's models folder or LM Studio's home (or its models folder); by default
    the one the tool itself uses. Every blob is hashed; a damaged one is refused. Nothing in
    FOLDER is changed (hard-linked files become read-only). Exit 1 if any model was skipped.
    """
    from store import adopt
    from store.export import lmstudio, ollama

    app.quiet = quiet
    store = app.store()
    if source == "ollama":
        root = folder if folder is not None else ollama.default_root()
        results = adopt.from_ollama(store, root, force=force)
    else:
        home = folder if folder is not None else lmstudio.find_home()
        is_home = (home / "settings.json").exists() or (home / "models").is_dir()
        root = lmstudio.models_folder(home) if is_home else home
        results = adopt.from_lmstudio(store, root)
    if as_json:
        from .. import schema

        app.emit(schema.ImportOutput.model_validate({
            "source": source, "root": str(root),
            "models": [{"name": r.name, "status": r.status, "detail": r.detail,
                        "linked_size": r.linked_size, "copied_size": r.copied_size}
                       for r in results],
        }))
    else:
        for r in results:
            detail = f": {r.detail}" if r.detail else ""
            extra = f" ({human_bytes(r.linked_size)} linked)" if r.linked_size else ""
            line = f"{r.status:<9} {r.name}{extra}{detail}"
            app.warn(line) if r.status == "skipped" else app.status(line)
        imported = sum(r.status == "imported" for r in results)
        app.echo(f"imported {plural(imported, 'model')} from {root}, "
                 f"{sum(r.status == 'unchanged' for r in results)} already in the store, "
                 f"{sum(r.status == 'skipped' for r in results)} skipped")
    if any(r.status == "skipped" for r in results):
        raise SystemExit(1)


@click.command()
@click.argument("paths", nargs=-1, required=True,
                type=InputPath(path_type=Path))
@click.option("--apply", is_flag=True, help="Replace the copies with hard links.")
@json_option
@pass_app
def dedupe(app: App, paths: tuple[Path, ...], apply: bool, as_json: bool) -> None:
    """Find identical GGUF files under PATHS and the store; with --apply, hard-link them.

    Without --apply nothing is changed: it only says what linking would save.
    """
    from store.dedupe import dedupe as find_duplicates

    store = app.store()
    scanned = [*paths, store.layout.blobs] if store.layout.blobs.is_dir() else list(paths)
    report = find_duplicates(scanned, prefer=store.root, apply=apply)
    if as_json:
        from .. import schema

        app.emit(schema.DedupeOutput.model_validate({
            "applied": report.applied, "saved_size": report.saved,
            "groups": [{"digest": str(g.digest), "size": g.size, "keep": str(g.keep),
                        "copies": [str(p) for p in g.copies],
                        "unlinkable": [str(p) for p in g.unlinkable]} for g in report.groups],
            "failures": [{"path": str(p), "reason": r} for p, r in report.failures],
        }))
    else:
        for group in report.groups:
            app.echo(f"{group.digest.short}  {human_bytes(group.size)}  keep {group.keep}")
            for copy in group.copies:
                app.echo(f"    {'linked' if apply else 'copy'} {copy}")
            for other in group.unlinkable:
                app.echo(f"    other file system, left alone: {other}")
        for path, reason in report.failures:
            app.warn(f"could not link {path}: {reason}")
        if apply:
            app.echo(f"saved {human_bytes(report.saved)}")
        else:
            hint = "; run with --apply to link them" if report.saved else ""
            app.echo(f"would save {human_bytes(report.saved)}{hint}")
    if report.failures:
        raise SystemExit(1)


@click.command()
@click.argument("names", nargs=-1, required=True, shell_complete=complete_model_names)
@click.option("-o", "--output", "out", required=True, type=PathParam(path_type=Path),
              help="The bundle to write: an OCI image layout tar, zstd-compressed if it ends "
                   "in .zst.")
@json_option
@quiet_option
@pass_app
def save(app: App, names: tuple[str, ...], out: Path, as_json: bool, quiet: bool) -> None:
    """Write models into one file that 'lamina load' reads on another machine."""
    from store import bundle

    app.quiet = quiet
    if str(out) == "-":
        raise click.UsageError("-o -: a bundle is written to a file and renamed into place only "
                               "once complete; give the path of the file to write")
    if out.is_symlink() or (out.exists() and not out.is_file() and not out.is_dir()):
        # /dev/full, a pipe, /dev/stdout: renaming the finished bundle would replace them
        raise click.UsageError(f"{out} is a link, device, pipe or socket: a bundle is renamed "
                               "into place once complete, which would replace it; give the "
                               "path of a file")
    store = app.store()
    total = sum(store.manifest(store.resolve(n)).total_size for n in names)
    with app.progress(f"saving {out.name}", total) as progress:
        result = bundle.save(store, names, out, progress=progress)
    if as_json:
        from .. import schema

        app.emit(schema.SaveOutput.model_validate({
            "path": str(result.path), "size": result.size, "blobs": result.blobs,
            "models": [{"name": n.display_shortest(), "id": str(d)} for n, d in result.models],
        }))
        return
    app.echo(f"saved {plural(len(result.models), 'model')} ({plural(result.blobs, 'blob')}) "
             f"to {result.path}, {human_bytes(result.size)}")


@click.command()
@click.argument("bundle_path", metavar="FILE", type=InputPath(path_type=Path))
@json_option
@quiet_option
@pass_app
def load(app: App, bundle_path: Path, as_json: bool, quiet: bool) -> None:
    """Import the models of a bundle 'lamina save' wrote; every digest is checked first."""
    from store import bundle

    app.quiet = quiet
    if bundle_path.is_dir():
        app.fail(f"{bundle_path} is a folder; give the bundle file 'lamina save' wrote",
                 code="os_error")
    with app.progress(f"loading {bundle_path.name}", bundle_path.stat().st_size) as progress:
        result = bundle.load(app.store(), bundle_path, progress=progress)
    if as_json:
        from .. import schema

        app.emit(schema.LoadOutput.model_validate({
            "added_blobs": result.added, "present_blobs": result.present,
            "models": [{"name": n.display_shortest(), "id": str(d)} for n, d in result.models],
        }))
        return
    for name, digest in result.models:
        app.status(f"loaded {name.display_shortest()} ({digest.short})")
    app.echo(f"loaded {plural(len(result.models), 'model')}: "
             f"{plural(result.added, 'new blob')}, {result.present} already in the store")
