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


def _read(path: Path) -> tuple[bytes, str, modelfile.Modelfile]:
    """The raw bytes, the decoded text and the parsed Modelfile."""
    data = sys.stdin.buffer.read() if path == STDIN else path.read_bytes()
    text = modelfile.decode(data)
    return data, text, modelfile.parse(text, file="<stdin>" if path == STDIN else str(path))


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
            changed += _format_one(app, path, check_only=check_only, show_diff=show_diff)
        except (OSError, modelfile.ModelfileError) as exc:
            message = str(exc) if isinstance(exc, modelfile.ModelfileError) else (
                f"{path}: {exc.strerror or exc}")
            app.err.print(message, markup=False, style="red")
            failed += 1
    if failed or (check_only and changed):
        raise SystemExit(1)


def _format_one(app: App, path: Path, *, check_only: bool, show_diff: bool) -> bool:
    """Format one file (or standard input); True when its text was not canonical."""
    data, before, parsed = _read(path)
    after = modelfile.format(parsed)
    if path == STDIN:  # an editor's formatter: canonical text out, whatever came in
        if not check_only:
            app.out.file.write(after)
        return before != after
    if data == after.encode():
        return False
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
    return True


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
        _, _, parsed = _read(path)
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
