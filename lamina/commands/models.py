"""Local model commands: create, list, show, rm, cp, diff."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import click
from rich.table import Table

import modelfile
import store

from ..app import App, ProgressSink, pass_app
from ..output import human_age, human_bytes


class _Reporter:
    """Carries create's statuses and hashing progress to the terminal."""

    def __init__(self, app: App, *, quiet: bool) -> None:
        self.app = app
        self.quiet = quiet

    def status(self, text: str) -> None:
        if not self.quiet:
            self.app.err.print(text, markup=False)

    def hashing(self, label: str, size: int) -> AbstractContextManager[ProgressSink]:
        return self.app.progress(f"hashing {label}", size)


@click.command()
@click.argument("name")
@click.option("-f", "--file", "path", type=click.Path(path_type=Path), default=Path("Modelfile"),
              show_default=True, help="The Modelfile to build.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def create(app: App, name: str, path: Path, as_json: bool) -> None:
    """Build a model from a Modelfile; weights are linked, not copied, when the disk allows."""
    if not path.is_file():
        app.fail(f"{path}: no such Modelfile (give one with -f)")
    source = modelfile.parse_file(path)
    for diagnostic in modelfile.check(source):
        if diagnostic.severity == "warning":
            app.warn(diagnostic.render(str(path)))
    result = store.create(app.store(), name, source, base_dir=path.parent.resolve(),
                          reporter=_Reporter(app, quiet=as_json))
    if as_json:
        app.json({
            "name": result.name.display_shortest(),
            "id": str(result.manifest.digest),
            "size": result.manifest.total_size,
            "layers": [layer.to_json() for layer in result.manifest.layers],
            "imports": [
                {"path": str(p), "digest": str(r.digest), "method": _method(r)}
                for p, r in result.imports
            ],
        })
        return
    for source_path, imported in result.imports:
        app.err.print(f"{source_path.name}: {_method(imported)}", markup=False)
    app.echo(f"created {result.name.display_shortest()} ({result.manifest.digest.short})")


def _method(result: store.ImportResult) -> str:
    if result.method is None:
        return "already in the store"
    return f"{result.method.value}{'' if result.hashed else ' (hash cached)'}"


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of models.")
@pass_app
def list_models(app: App, as_json: bool) -> None:
    """List models: NAME, ID, SIZE, MODIFIED."""
    entries = app.store().entries()
    if as_json:
        app.json([
            {
                "name": entry.name.display_shortest(),
                "id": str(entry.digest),
                "size": entry.manifest.total_size,
                "modified": datetime.datetime.fromtimestamp(entry.modified, datetime.UTC)
                .isoformat(),
            }
            for entry in entries
        ])
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("NAME", "ID", "SIZE", "MODIFIED"):
        table.add_column(column, no_wrap=True)
    for entry in entries:
        table.add_row(entry.name.display_shortest(), entry.digest.short,
                      human_bytes(entry.manifest.total_size), human_age(entry.modified))
    app.out.print(table)


@click.command()
@click.argument("name")
@click.option("--modelfile", "as_modelfile", is_flag=True,
              help="Print a Modelfile that re-creates this model.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@pass_app
def show(app: App, name: str, as_modelfile: bool, as_json: bool) -> None:
    """Show a model: architecture, size, quantization, template, system, parameters."""
    the_store = app.store()
    info = store.show(the_store, name)
    if as_json:
        app.json(info.to_json())
    elif as_modelfile:
        app.out.file.write(store.rebuild_modelfile(the_store, info))
    else:
        for line in _describe(info):
            app.echo(line)


def _describe(info: store.ModelInfo) -> Iterator[str]:
    weights = info.weights
    yield f"  {info.name.display_shortest()}  ({info.manifest.digest.short})"
    yield "  Model"
    rows = [
        ("architecture", info.config.model_family),
        ("parameters", info.config.model_type),
        ("quantization", info.config.file_type),
        ("context length", weights.context_length if weights else None),
        ("embedding length", weights.embedding_length if weights else None),
        ("size", human_bytes(info.manifest.total_size)),
    ]
    for label, value in rows:
        if value not in (None, ""):
            yield f"    {label:<18}{value}"
    if info.parameters:
        yield "  Parameters"
        for key, param in info.parameters.items():
            for item in param if isinstance(param, list) else [param]:
                yield f"    {key:<18}{item!r}" if isinstance(item, str) else f"    {key:<18}{item}"
    for label, text in (("System", info.system), ("Template", info.template)):
        if text:
            yield f"  {label}"
            yield from (f"    {line}" for line in text.splitlines())
    if info.messages:
        yield "  Messages"
        for message in info.messages:
            first, *rest = str(message.get("content", "")).splitlines() or [""]
            yield f"    {message.get('role')}: {first}"
            yield from (f"      {line}" for line in rest)
    for text in info.licenses:
        yield "  License"
        lines = text.splitlines()
        yield from (f"    {line}" for line in lines[: store.LICENSE_HEAD_LINES])
        if len(lines) > store.LICENSE_HEAD_LINES:
            yield "    ..."


@click.command()
@click.argument("names", nargs=-1, required=True)
@pass_app
def rm(app: App, names: tuple[str, ...]) -> None:
    """Delete models, and every blob no other model uses."""
    the_store = app.store()
    for name in names:
        removed, blobs = the_store.remove(name)
        app.echo(f"deleted '{removed.display_shortest()}' ({len(blobs)} blobs freed)")


@click.command()
@click.argument("source")
@click.argument("destination")
@pass_app
def cp(app: App, source: str, destination: str) -> None:
    """Copy a model to a new name (the manifest only; blobs are shared)."""
    copied = app.store().copy(source, destination)
    app.echo(f"copied '{source}' to '{copied.display_shortest()}'")


@click.command()
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@pass_app
def diff(app: App, a: str, b: str, as_json: bool) -> None:
    """Compare two models: shared and differing layers, parameters, system, template."""
    result = store.diff(app.store(), a, b)
    if as_json:
        app.json(result.to_json())
        return
    shared = len(result.shared)
    app.echo(f"{shared} shared layer{'s' * (shared != 1)}, {len(result.only_a)} only in {a}, "
             f"{len(result.only_b)} only in {b}")
    for sign, layers in (("-", result.only_a), ("+", result.only_b)):
        for layer in layers:
            kind = layer.media_type.rsplit(".", 1)[-1]
            app.echo(f"{sign} {kind:<10}{layer.digest.short}  {human_bytes(layer.size)}")
    for key, (left, right) in result.parameters.items():
        app.echo(f"parameter {key}: {left!r} -> {right!r}")
    for text in result.texts.values():
        app.out.file.write(text)
