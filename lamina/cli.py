"""The ``lamina`` command: a click group that gathers the command modules and turns every error
into one message and one exit code (see ``errors``).

Start-up matters here (people type ``lamina list`` dozens of times a day): a command's module
is imported only when that command runs (or help lists them all), and command modules import
only click at the top; each command imports what it uses.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from . import __version__
from .app import App, Failure
from .errors import USAGE, explain


def wants_json(args: Sequence[str]) -> bool:
    """Whether ``--json`` is among the options (before any ``--``)."""
    options = args[: list(args).index("--")] if "--" in args else args
    return "--json" in options


# command name -> (module in lamina.commands, the click command in it)
COMMANDS: dict[str, tuple[str, str]] = {
    "fmt": ("language", "fmt"), "check": ("language", "check"),
    "create": ("models", "create"), "list": ("models", "list_models"), "show": ("models", "show"),
    "rm": ("models", "rm"), "cp": ("models", "cp"), "diff": ("models", "diff"),
    "export": ("exchange", "export"), "import": ("exchange", "import_models"),
    "dedupe": ("exchange", "dedupe"), "save": ("exchange", "save"), "load": ("exchange", "load"),
    "serve": ("serve", "serve"),
    "pull": ("transfer", "pull"), "push": ("transfer", "push"), "login": ("transfer", "login"),
    "lock": ("transfer", "lock"),
    "gc": ("maintenance", "gc"), "du": ("maintenance", "du"), "verify": ("maintenance", "verify"),
}  # fmt: skip


class LaminaGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module = importlib.import_module(f"lamina.commands.{where[0]}")
        command: click.Command = getattr(module, where[1])
        return command

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        extra.setdefault("obj", App(json_mode=wants_json(argv)))
        return super().main(argv, prog_name, complete_var, standalone_mode, **extra)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:  # lamina's own options: --hme, --home without a value
            if not ctx.ensure_object(App).json_mode:
                raise
            raise Failure(error.format_message(), code="usage_error", exit_code=USAGE,
                          json_mode=True) from error

    def invoke(self, ctx: click.Context) -> Any:
        app = ctx.ensure_object(App)
        try:
            return super().invoke(ctx)
        except (Failure, click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise  # click ends a broken pipe (lamina list | head) quietly
        except click.UsageError as error:
            if not app.json_mode:
                raise
            raise Failure(error.format_message(), code="usage_error", exit_code=USAGE,
                          json_mode=True) from error
        except (Exception, KeyboardInterrupt) as error:
            if os.environ.get("LAMINA_DEBUG") and not isinstance(error, KeyboardInterrupt):
                raise
            explained = explain(error)
            raise Failure(explained.message, code=explained.code,
                          exit_code=explained.exit_code, json_mode=app.json_mode) from error


def _home(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """The store's root; an empty one is refused, as ``Path("")`` would be the current folder
    (and click reads an empty ``LAMINA_HOME`` as unset, which would be the default store)."""
    if value == "":
        raise click.BadParameter("must name a folder, not be empty", ctx, param)
    if value is None and os.environ.get("LAMINA_HOME") == "":
        raise click.UsageError("LAMINA_HOME is set but empty: name the store's folder, or "
                               "unset it for the default store", ctx)
    return None if value is None else Path(value)


@click.group(name="lamina", cls=LaminaGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), envvar="LAMINA_HOME", callback=_home,
              help="The store's root folder (default: $LAMINA_HOME, else the user data folder).")
@click.version_option(version=__version__, prog_name="lamina")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """lamina: a content-addressed model store and Modelfile toolchain."""
    ctx.ensure_object(App).home = home
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit(0)

