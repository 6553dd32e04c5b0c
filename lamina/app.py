"""The application object every command gets from the click context: output and aborting.

Text goes out exactly as given: nothing here interprets markup, emoji codes or escapes, because
what lamina prints is mostly what users wrote (names, SYSTEM, TEMPLATE, GGUF metadata). Heavy
modules are imported where they are used, so that ``lamina --help`` starts at once: the store
when a command opens it, pydantic on the ``--json`` path, rich only for a progress bar on a
terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO

import click

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    from store import Store

ProgressSink = Callable[[int], None]


class Failure(click.ClickException):
    """A failed operation: its message on stderr (or JSON on stdout), and its exit code."""

    def __init__(self, message: str, *, code: str, exit_code: int, json_mode: bool) -> None:
        super().__init__(message)
        self.code = code
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it per class
        self.json_mode = json_mode

    def show(self, file: IO[Any] | None = None) -> None:
        if self.json_mode:
            from .schema import ErrorOutput

            _write(sys.stdout, ErrorOutput.of(self.code, self.message).model_dump_json() + "\n")
        else:
            _write(sys.stderr, f"Error: {self.message}\n")


class App:
    """Owns stdout (results) and stderr (progress, warnings, errors), and opens the store.

    ``json_mode`` is set when ``--json`` is among the arguments: errors are then JSON on stdout
    too. ``console`` is where progress bars go: by default a rich console on stderr, made when
    first needed. (A plain class: a dataclass costs a millisecond of start-up.)
    """

    def __init__(self, home: Path | None = None, *, json_mode: bool = False,
                 quiet: bool = False, console: Console | None = None) -> None:
        self.home = home
        self.json_mode = json_mode
        self.quiet = quiet
        self.console = console

    def store(self) -> Store:
        from store import Store

        return Store(self.home.absolute() if self.home is not None else None)

    def echo(self, text: str = "") -> None:
        """One line of results on stdout, verbatim."""
        _write(sys.stdout, text + "\n")

    def write(self, text: str) -> None:
        """Text on stdout, verbatim, with no line end added."""
        _write(sys.stdout, text)

    def status(self, text: str) -> None:
        """A progress line on stderr; ``--quiet`` and ``--json`` silence it."""
        if not (self.quiet or self.json_mode):
            _write(sys.stderr, text + "\n")

    def warn(self, text: str) -> None:
        """A warning on stderr; shown even with ``--quiet``."""
        _write(sys.stderr, text + "\n")

    def emit(self, value: BaseModel) -> None:
        """One JSON document on one line of stdout."""
        _write(sys.stdout, value.model_dump_json() + "\n")

    def emit_document(self, document: dict[str, Any]) -> None:
        """:meth:`emit` for a document built as plain data, written as pydantic writes it."""
        import json

        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        _write(sys.stdout, text + "\n")

    def fail(self, message: str, *, code: str, exit_code: int = 1) -> NoReturn:
        """Stop with ``message``; ``code`` is one of ``lamina.errors.ERROR_CODES``."""
        raise Failure(message, code=code, exit_code=exit_code, json_mode=self.json_mode)

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[ProgressSink]:
        """A bytes progress bar (rate, ETA) on stderr when it is a terminal; else nothing."""
        console = self.console
        if console is None:
            if self.quiet or self.json_mode or not sys.stderr.isatty():
                yield lambda n: None
                return
            from rich.console import Console

            console = self.console = Console(stderr=True, highlight=False)
        with _bar(console, description, total) as sink:
            yield sink


def transfer_bar(console: Console, *, transient: bool, only_on_terminal: bool) -> RichProgress:
    """The one look of a bytes progress bar: description, bar, bytes, rate, time left."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=only_on_terminal and not console.is_terminal,
    )


@contextmanager
def _bar(console: Console, description: str, total: int) -> Iterator[ProgressSink]:
    bar = transfer_bar(console, transient=True, only_on_terminal=True)
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def _write(stream: TextIO, text: str) -> None:
    """Write and flush; text the stream's encoding cannot hold is escaped, never dropped."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = stream.encoding or "utf-8"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()


pass_app = click.make_pass_decorator(App, ensure=True)
