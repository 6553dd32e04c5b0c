"""Local model commands: create, list, show, rm, cp, diff."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..app import App, ProgressSink, pass_app
from ..completion import complete_model_names
from ..options import PathParam, json_option, quiet_option
from ..output import columns, human_age, human_bytes, plural, value_text

if TYPE_CHECKING:
    import modelfile
    import store
    from store.chat import Chosen

    from .. import schema

STDIN = Path("-")


class _Reporter:
    """Carries create's statuses and hashing progress to stderr, holding back the final
    "success" until the command has said how each file was placed."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.finished = False

    def status(self, text: str) -> None:
        if text == "success":
            self.finished = True
        else:
            self.app.status(text)

    def hashing(self, label: str, size: int) -> AbstractContextManager[ProgressSink]:
        return self.app.progress(f"hashing {label}", size)


@click.command()
@click.argument("name")
@click.option("-f", "--file", "path", type=PathParam(path_type=Path, allow_dash=True),
              default=Path("Modelfile"), show_default=True,
              help="The Modelfile to build; - reads it from standard input.")
@click.option("--locked", is_flag=True,
              help="Build FROM the digests in Modelfile.lock (pulled if need be), or fail.")
@json_option
@quiet_option
@pass_app
def create(app: App, name: str, path: Path, locked: bool, as_json: bool, quiet: bool) -> None:
    """Build a model from a Modelfile; weights are linked, not copied, when the disk allows.

    Relative paths in the Modelfile are read from its folder (from the current folder when the
    Modelfile comes from standard input). FROM a model the store lacks pulls it first.
    """
    import store

    app.quiet = quiet
    source, label, base_dir = read_modelfile(app, path)
    if locked:
        import modelfile

        from .transfer import ensure_locked

        if path == STDIN:
            app.fail("--locked needs a Modelfile on disk (its lock is beside it)",
                     code="usage_error", exit_code=2)
        ensure_locked(app, path, base_dir, modelfile.analyse(source)[0])
    reporter = _Reporter(app)
    try:
        result = store.create(app.store(), name, source, base_dir=base_dir, reporter=reporter)
    except store.ParentNotFound as missing:
        if locked:
            raise
        from .transfer import pull_parent

        pull_parent(app, missing.name)
        result = store.create(app.store(), name, source, base_dir=base_dir, reporter=reporter)
    for warning in result.warnings:  # the Modelfile's and create's own, analysed once
        app.warn(warning.render(label))
    if as_json:
        from .. import schema

        app.emit(schema.CreateOutput(
            name=result.name.display_shortest(), id=str(result.manifest.digest),
            size=result.manifest.total_size, layers=_layers(result.manifest.layers),
            imports=[_import(p, r) for p, r in result.imports],
            template=_chosen(result.template),
            warnings=[schema.Diagnostic.model_validate(w.to_json()) for w in result.warnings],
        ))
        return
    for source_path, imported in result.imports:
        app.status(f"{source_path.name}: {_method_text(imported)}")
    if reporter.finished:
        app.status("success")
    app.echo(f"created {result.name.display_shortest()} ({result.manifest.digest.short})")
    if result.template is not None:
        family = result.template.family
        app.echo(f"template: {family.name} ({family.title}), chosen by the weights' "
                 f"{'chat template' if result.template.by == 'chat_template' else 'architecture'}"
                 "; add a TEMPLATE line to use another")


def _chosen(chosen: Chosen | None) -> schema.ChosenTemplate | None:
    from .. import schema

    if chosen is None:
        return None
    family = chosen.family
    return schema.ChosenTemplate(name=family.name, title=family.title, chosen_by=chosen.by,
                                 stop=list(family.stop))


def read_modelfile(app: App, path: Path) -> tuple[modelfile.Modelfile, str, Path]:
    """The parsed Modelfile, the name to show in messages, and the folder its paths are from."""
    import modelfile

    if path == STDIN:
        return modelfile.parse(sys.stdin.buffer.read(), file="<stdin>"), "<stdin>", Path.cwd()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        app.fail(f"{path}: no such Modelfile (give one with -f)", code="file_not_found")
    except IsADirectoryError:
        app.fail(f"{path} is a folder; give the Modelfile in it with -f", code="os_error")
    return modelfile.parse(data, file=str(path)), str(path), path.parent.resolve()


def _method(result: store.ImportResult) -> str:
    if result.method is not None:
        return result.method.value
    return "present" if result.hashed else "cached"


def _method_text(result: store.ImportResult) -> str:
    placed = "already in the store" if result.method is None else result.method.value
    return placed + ("" if result.hashed else " (hash cached)")


def _import(path: Path, result: store.ImportResult) -> schema.Import:
    from .. import schema

    return schema.Import(path=str(path), digest=str(result.digest), size=result.size,
                         method=_method(result), hashed=result.hashed)  # type: ignore[arg-type]


def _layers(layers: tuple[store.Descriptor, ...]) -> list[schema.Layer]:
    from .. import schema

    return [schema.Layer.of(layer) for layer in layers]


@click.command("list")
@json_option
@pass_app
def list_models(app: App, as_json: bool) -> None:
    """List models, newest first: NAME, ID, SIZE, MODIFIED (columns never cut)."""
    import store

    entries, damaged = app.store().survey()
    # one list, newest first: a damaged manifest is shown where it falls, never hidden
    everything: list[store.ModelEntry | store.DamagedEntry] = [*entries, *damaged]
    listed = sorted(((e.modified, e.name.display_shortest(), e) for e in everything),
                    key=lambda row: row[0], reverse=True)
    if as_json:
        import datetime

        from .. import schema

        app.emit(schema.ListOutput(models=[
            schema.ListedModel(
                name=shown, id=_entry_id(entry), size=_entry_size(entry),
                modified=datetime.datetime.fromtimestamp(modified, datetime.UTC),
                status="damaged" if isinstance(entry, store.DamagedEntry) else "ok",
                problem=entry.problem if isinstance(entry, store.DamagedEntry) else None,
            )
            for modified, shown, entry in listed
        ]))
        return
    rows = [("NAME", "ID", "SIZE", "MODIFIED")]
    rows += [
        (shown, "damaged" if isinstance(entry, store.DamagedEntry) else entry.digest.short,
         human_bytes(_entry_size(entry)), human_age(modified))
        for modified, shown, entry in listed
    ]
    for line in columns(rows):
        app.echo(line)
    for entry in damaged:
        app.warn(f"warning: {entry.name.display_shortest()} is damaged ({entry.problem}); "
                 "'lamina rm' removes it")


def _entry_id(entry: store.ModelEntry | store.DamagedEntry) -> str | None:
    return None if entry.digest is None else str(entry.digest)


def _entry_size(entry: store.ModelEntry | store.DamagedEntry) -> int:
    import store

    return entry.manifest.total_size if isinstance(entry, store.ModelEntry) else 0


@click.command()
@click.argument("name", shell_complete=complete_model_names)
@click.option("--modelfile", is_flag=True, help="Print a Modelfile that re-creates this model.")
@click.option("--parameters", is_flag=True,
              help="Print its parameters, one per line, as PARAMETER would set them.")
@click.option("--template", is_flag=True, help="Print its template.")
@click.option("--system", is_flag=True, help="Print its system message.")
@click.option("--license", is_flag=True, help="Print its license.")
@json_option
@pass_app
def show(app: App, name: str, modelfile: bool, parameters: bool, template: bool, system: bool,
         license: bool, as_json: bool) -> None:
    """Show a model: architecture, size, quantization, parameters, system, template, license."""
    import store

    section = _one_section({"modelfile": modelfile, "parameters": parameters,
                            "template": template, "system": system, "license": license}, as_json)
    the_store = app.store()
    info = store.show(the_store, name)
    if as_json:
        app.emit(_show_json(info))
    elif section == "modelfile":
        app.write(store.rebuild_modelfile(the_store, info))
    elif section == "parameters":
        for key, value in _parameter_lines(info.parameters):
            app.echo(f"{key:<30} {value}")
    elif section in ("template", "system"):
        text = info.template if section == "template" else info.system
        app.write(_with_line_end(text or ""))
    elif section == "license":
        app.write("".join(_with_line_end(text) for text in info.licenses))
    else:
        for line in _describe(info):
            app.echo(line)


def _one_section(sections: dict[str, bool], as_json: bool) -> str | None:
    """The one section asked for, if any; two (or one with --json) are a usage error, as in
    Ollama, rather than one of them silently ignored."""
    chosen = [f"--{section}" for section, wanted in sections.items() if wanted]
    if len(chosen) + as_json > 1:
        given = " and ".join([*chosen, *(["--json"] if as_json else [])])
        raise click.UsageError(
            f"{given}: give only one of --modelfile, --parameters, --template, --system, "
            "--license or --json"
        )
    return chosen[0][2:] if chosen else None


def _with_line_end(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _show_json(info: store.ModelInfo) -> schema.ShowOutput:
    from .. import schema

    weights = info.weights
    return schema.ShowOutput(
        name=info.name.display_shortest(), id=str(info.manifest.digest),
        size=info.manifest.total_size,
        architecture=info.config.model_family or None,
        model_type=info.config.model_type or None,
        parameter_count=weights.parameter_count if weights else None,
        quantization=info.config.file_type or None,
        context_length=weights.context_length if weights else None,
        embedding_length=weights.embedding_length if weights else None,
        parameters=info.parameters,  # type: ignore[arg-type]
        template=info.template, system=info.system, licenses=list(info.licenses),
        messages=[
            schema.Message(role=str(m.get("role", "")), content=str(m.get("content", "")))
            for m in info.messages
        ],
        layers=_layers(info.layers),
    )


def _parameter_lines(parameters: dict[str, object]) -> Iterator[tuple[str, str]]:
    for key, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            yield key, value_text(item)


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
        yield from (f"    {key:<18}{value}" for key, value in _parameter_lines(info.parameters))
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
        yield from _license_head(text)


def _license_head(text: str) -> Iterator[str]:
    import store

    yield "  License"
    lines = text.splitlines()
    yield from (f"    {line}" for line in lines[: store.LICENSE_HEAD_LINES])
    if len(lines) > store.LICENSE_HEAD_LINES:
        yield "    ... (lamina show --license prints all of it)"


@click.command()
@click.argument("names", nargs=-1, required=True, shell_complete=complete_model_names)
@json_option
@pass_app
def rm(app: App, names: tuple[str, ...], as_json: bool) -> None:
    """Delete models, and every blob no other model uses; nothing if any name is unknown."""
    the_store = app.store()
    # every name is checked before any model goes; a name given twice is deleted once
    found = dict.fromkeys(the_store.resolve(name) for name in names)
    removals = []
    for name in found:
        removal = the_store.remove(name)
        removals.append(removal)
        for warning in removal.warnings:
            app.warn(f"warning: {warning}")
        if not as_json:
            shown = removal.name.display_shortest()
            app.echo(f"deleted '{shown}' ({plural(len(removal.freed), 'blob')} freed, "
                     f"{human_bytes(removal.freed_size)})")
    if as_json:
        from .. import schema

        app.emit(schema.RmOutput(removed=[
            schema.Removed(
                name=removal.name.display_shortest(), id=str(removal.digest),
                freed_blobs=[schema.Blob(digest=str(d), size=s) for d, s in removal.freed],
                freed_size=removal.freed_size, warnings=list(removal.warnings),
            )
            for removal in removals
        ]))


@click.command()
@click.argument("source", shell_complete=complete_model_names)
@click.argument("destination", shell_complete=complete_model_names)
@json_option
@pass_app
def cp(app: App, source: str, destination: str, as_json: bool) -> None:
    """Copy a model to a new name (the manifest only; blobs are shared)."""
    the_store = app.store()
    copied = the_store.copy(source, destination)
    if as_json:
        from .. import schema

        found = the_store.resolve(source)
        app.emit(schema.CpOutput(source=found.display_shortest(),
                                 destination=copied.name.display_shortest(),
                                 id=str(copied.manifest.digest),
                                 pruned_blobs=[str(d) for d in copied.pruned]))
        return
    app.echo(f"copied '{source}' to '{copied.name.display_shortest()}'")
    if copied.pruned:
        app.status(f"deleted {plural(len(copied.pruned), 'blob')} of the model it replaced")


@click.command()
@click.argument("a", shell_complete=complete_model_names)
@click.argument("b", shell_complete=complete_model_names)
@json_option
@pass_app
def diff(app: App, a: str, b: str, as_json: bool) -> None:
    """Compare two models: layers (and their order), parameters, system, template, license."""
    import store

    from .. import diffing

    the_store = app.store()
    compared = diffing.compare(store.show(the_store, a), store.show(the_store, b),
                               store.diff(the_store, a, b))
    if as_json:
        app.emit(diffing.to_json(compared))
        return
    for line in diffing.lines(compared):
        app.echo(line)
