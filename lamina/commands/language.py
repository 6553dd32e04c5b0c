"""``lamina fmt`` and ``lamina check``: the Modelfile language on files in a git tree."""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import click

import modelfile

from ..app import App, pass_app

_NAMES = ("Modelfile",)
_SUFFIXES = (".Modelfile", ".modelfile")


STDIN = Path("-")


def modelfile_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Each file named, and every Modelfile (``Modelfile``, ``*.Modelfile``) under each folder;
    ``-`` stands for standard input."""
    for path in paths:
        if path != STDIN and path.is_dir():
            found = (
                p for p in sorted(path.rglob("*"))
                if p.is_file() and (p.name in _NAMES or p.name.endswith(_SUFFIXES))
            )
            yield from found
        else:
            yield path


def _read(path: Path) -> tuple[str, modelfile.Modelfile]:
    if path == STDIN:
        data = sys.stdin.buffer.read()
        return modelfile.decode(data), modelfile.parse(data, file="<stdin>")
    data = path.read_bytes()
    return modelfile.decode(data), modelfile.parse(data, file=str(path))


def _write_atomically(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temp, path.stat().st_mode & 0o7777)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@click.command("fmt")
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff instead of writing.")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, allow_dash=True, path_type=Path))
@pass_app
def fmt(app: App, check_only: bool, show_diff: bool, paths: tuple[Path, ...]) -> None:
    """Rewrite Modelfiles canonically, keeping comments and every value exactly.

    With ``-`` the Modelfile is read from standard input and written to standard output.
    """
    changed = failed = 0
    for path in modelfile_paths(paths):
        try:
            before, parsed = _read(path)
            after = modelfile.format(parsed)
        except (OSError, modelfile.ModelfileError) as exc:
            app.err.print(str(exc), markup=False, style="red")
            failed += 1
            continue
        if path == STDIN:  # an editor's formatter: canonical text out, whatever came in
            changed += before != after
            if not check_only:
                app.out.file.write(after)
            continue
        if before == after and path.read_bytes() == after.encode():
            continue
        changed += 1
        if show_diff:
            lines = difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True),
                fromfile=str(path), tofile=str(path),
            )
            app.out.file.write("".join(lines))
        if check_only or show_diff:
            app.err.print(f"would reformat {path}", markup=False)
        else:
            _write_atomically(path, after)
            app.err.print(f"reformatted {path}", markup=False)
    if failed or (check_only and changed):
        raise SystemExit(1)


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line.")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, allow_dash=True, path_type=Path))
@pass_app
def check(app: App, as_json: bool, paths: tuple[Path, ...]) -> None:
    """Lint Modelfiles: syntax, parameters and their types, roles, repeats, REQUIRES."""
    errors = warnings = files = 0
    for path in modelfile_paths(paths):
        files += 1
        instructions, diagnostics = _check_one(path)
        errors += sum(d.severity == "error" for d in diagnostics)
        warnings += sum(d.severity == "warning" for d in diagnostics)
        if as_json:
            app.json({
                "file": str(path),
                "ok": not any(d.severity == "error" for d in diagnostics),
                "instructions": instructions,
                "diagnostics": [d.to_json() for d in diagnostics],
            })
        else:
            for diagnostic in diagnostics:
                app.echo(diagnostic.render(str(path)))
    if not as_json:
        app.err.print(
            f"{files} file{'s' * (files != 1)} checked: {errors} error{'s' * (errors != 1)}, "
            f"{warnings} warning{'s' * (warnings != 1)}",
            markup=False,
        )
    if errors:
        raise SystemExit(1)


def _check_one(path: Path) -> tuple[list[dict[str, object]], list[modelfile.Diagnostic]]:
    try:
        _, parsed = _read(path)
    except OSError as exc:
        problem = modelfile.Diagnostic("error", 0, 0, f"cannot read file: {exc.strerror or exc}")
        return [], [problem]
    except modelfile.ModelfileError as exc:
        problem = modelfile.Diagnostic(
            "error", exc.line, exc.column, exc.message, exc.hint, exc.source_line
        )
        return [], [problem]
    instructions = [modelfile.instruction_json(i) for i in parsed.instructions]
    return instructions, modelfile.check(parsed)
