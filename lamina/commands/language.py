"""``lamina fmt`` and ``lamina check``: the Modelfile language on files in a git tree.

Everything these commands print that came from a file (paths, quoted lines, values, diffs) is
written to the streams as it is: never through rich, which would read ``[bold]`` as markup and
``:smile:`` as an emoji, nor through ``click.echo``, which strips escape sequences when piped.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from ..app import App, pass_app
from ..options import PathParam, json_option, quiet_option
from ..output import plural

if TYPE_CHECKING:  # imported when a command runs, so that lamina --help starts at once
    from pydantic import BaseModel

    import modelfile

_NAMES = ("Modelfile",)
_SUFFIXES = (".Modelfile", ".modelfile")
# Folders a walk never enters: tools' and package managers' trees, not the user's Modelfiles.
_SKIPPED = frozenset({"node_modules", "venv", "__pycache__"})

STDIN = Path("-")
STDIN_NAME = "<stdin>"


def _write(stream: TextIO, text: str) -> None:
    """Text exactly as given; a character the stream cannot encode (a file name that is not
    UTF-8) is written as a backslash escape rather than failing."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = stream.encoding or "utf-8"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()


def say(text: str) -> None:
    _write(sys.stdout, text + "\n")


def tell(text: str) -> None:
    """A line on stderr: progress, summaries and errors."""
    _write(sys.stderr, text + "\n")


def _skipped(folder: Path) -> bool:
    name = folder.name
    return (
        name.startswith(".") or name in _SKIPPED or (folder / "pyvenv.cfg").is_file()
    )


def _walk(root: Path) -> Iterator[Path]:
    """Modelfiles under ``root`` in sorted order, skipping hidden folders (``.git``, ``.venv``),
    virtual environments and ``node_modules``; symlinked folders are not followed."""
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(d for d in subfolders if not _skipped(here / d))
        for name in sorted(names):
            path = here / name
            if (name in _NAMES or name.endswith(_SUFFIXES)) and path.is_file():
                yield path


def modelfile_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Each file named, and every Modelfile (``Modelfile``, ``*.Modelfile``) under each folder;
    ``-`` stands for standard input."""
    for path in paths:
        if path != STDIN and path.is_dir():
            yield from _walk(path)
        else:
            yield path


def _require_existing(paths: Iterable[Path]) -> None:
    """Exit 1 (an input that is not there, not a usage error) naming the first missing path."""
    for path in paths:
        if path != STDIN and not path.exists():  # reported (and exit 1) by lamina.errors
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", str(path))


def _display(path: Path) -> str:
    return STDIN_NAME if path == STDIN else str(path)


def _read(path: Path) -> tuple[bytes, str, modelfile.Modelfile]:
    """The raw bytes, the decoded text and the parsed Modelfile."""
    import modelfile

    data = sys.stdin.buffer.read() if path == STDIN else path.read_bytes()
    name = _display(path)
    text = modelfile.decode(data, file=name)
    return data, text, modelfile.parse(text, file=name)


def _write_atomically(path: Path, text: str) -> None:
    """Replace the file's text, keeping its mode; a symlink stays a link to the new text."""
    target = Path(os.path.realpath(path))
    mode = target.stat().st_mode & 0o7777
    import tempfile

    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def unified_diff(before: str, after: str, name: str) -> str:
    """A unified diff patch(1) and git apply read, marking a last line without a line end."""
    import difflib

    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=name, tofile=name,
    )
    return "".join(
        line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n"
        for line in lines
    )


_PATHS = click.argument(
    "paths", nargs=-1, required=True,
    type=PathParam(allow_dash=True, path_type=Path),
)


@click.command("fmt")
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff instead of writing.")
@quiet_option
@_PATHS
def fmt(check_only: bool, show_diff: bool, quiet: bool, paths: tuple[Path, ...]) -> None:
    """Rewrite Modelfiles canonically, keeping comments and every value exactly.

    With ``-`` the Modelfile is read from standard input and written to standard output
    (with --diff, the diff is; with --check, nothing is).
    """
    import modelfile

    _require_existing(paths)
    changed = failed = 0
    for path in modelfile_paths(paths):
        try:
            changed += _format_one(path, check_only=check_only, show_diff=show_diff,
                                   quiet=quiet)
        except (OSError, modelfile.ModelfileError) as exc:
            tell(str(exc) if isinstance(exc, modelfile.ModelfileError)
                 else f"{path}: {exc.strerror or exc}")
            failed += 1
    if failed or (check_only and changed):
        raise SystemExit(1)


def _format_one(path: Path, *, check_only: bool, show_diff: bool, quiet: bool) -> bool:
    """Format one file (or standard input); True when its bytes were not canonical."""
    import modelfile

    note = (lambda text: None) if quiet else tell  # --quiet: the exit status says it all
    data, before, parsed = _read(path)
    after = modelfile.format(parsed)
    if data == after.encode():
        if path == STDIN and not (check_only or show_diff):
            _write(sys.stdout, after)
        return False
    if show_diff:
        _write(sys.stdout, unified_diff(before, after, _display(path)))
    if path == STDIN:  # an editor's formatter: canonical text out, whatever came in
        if check_only:
            note(f"{STDIN_NAME} is not formatted canonically")
        elif not show_diff:
            _write(sys.stdout, after)
    elif check_only or show_diff:
        note(f"would reformat {path}")
    else:
        _write_atomically(path, after)
        note(f"reformatted {path}")
    return True


@click.command("check")
@json_option
@quiet_option
@_PATHS
@pass_app
def check(app: App, as_json: bool, quiet: bool, paths: tuple[Path, ...]) -> None:
    """Lint Modelfiles: syntax, parameters and their types, roles, repeats, REQUIRES."""
    _require_existing(paths)
    errors = warnings = 0
    reports = []
    for path in modelfile_paths(paths):
        instructions, diagnostics = _check_one(path)
        errors += sum(d.severity == "error" for d in diagnostics)
        warnings += sum(d.severity == "warning" for d in diagnostics)
        reports.append((path, instructions, diagnostics))
        if not as_json:
            for diagnostic in diagnostics:
                say(diagnostic.render(_display(path)))
    if as_json:
        app.emit(_check_json(reports, errors, warnings))
    elif not quiet:
        tell(f"{plural(len(reports), 'file')} checked: {plural(errors, 'error')}, "
             f"{plural(warnings, 'warning')}")
    if errors:
        raise SystemExit(1)


def _check_json(
    reports: list[tuple[Path, list[dict[str, object]], list[modelfile.Diagnostic]]],
    errors: int, warnings: int,
) -> BaseModel:
    from .. import schema

    return schema.CheckOutput(ok=not errors, errors=errors, warnings=warnings, files=[
        schema.CheckedFile.model_validate({
            "file": str(path),
            "ok": not any(d.severity == "error" for d in diagnostics),
            "instructions": instructions,
            "diagnostics": [d.to_json() for d in diagnostics],
        })
        for path, instructions, diagnostics in reports
    ])


def _check_one(path: Path) -> tuple[list[dict[str, object]], list[modelfile.Diagnostic]]:
    import modelfile

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
    diagnostics = modelfile.check(parsed)
    if not any(d.severity == "error" for d in diagnostics):
        diagnostics += _weights_warnings(parsed, path)
    return instructions, sorted(diagnostics, key=lambda d: (d.line, d.column))


def _weights_warnings(parsed: modelfile.Modelfile, path: Path) -> list[modelfile.Diagnostic]:
    """What the GGUFs that FROM names tell: a chat template lamina cannot turn into a TEMPLATE.
    Only the files' headers are read, and only when FROM names files."""
    import store

    base_dir = Path.cwd() if path == STDIN else path.parent.resolve()
    return store.template_warnings(parsed, base_dir=base_dir)
