"""The application object every command gets from the click context: output and aborting."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from store import Store

ProgressSink = Callable[[int], None]


@dataclass
class App:
    """Owns stdout (results) and stderr (progress, warnings, errors), and opens the store."""

    home: Path | None = None

    out: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))
    err: Console = field(
        default_factory=lambda: Console(stderr=True, highlight=False, soft_wrap=True)
    )

    def store(self) -> Store:
        return Store(self.home)

    def echo(self, text: str = "") -> None:
        self.out.print(text, markup=False)

    def json(self, value: object) -> None:
        """One JSON document on one line of stdout."""
        sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def warn(self, text: str) -> None:
        self.err.print(text, markup=False, style="yellow")

    def fail(self, message: str, code: int = 1) -> NoReturn:
        """Print ``Error: message`` to stderr and exit with ``code``."""
        self.err.print(f"Error: {message}", markup=False, style="red")
        raise SystemExit(code)

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[ProgressSink]:
        """A bytes progress bar (rate, ETA) on stderr; silent when stderr is not a terminal."""
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
            disable=not self.err.is_terminal,
        )
        with bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)


pass_app = click.make_pass_decorator(App, ensure=True)
