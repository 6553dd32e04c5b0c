"""The ``lamina`` command: a click group that gathers the command modules and turns library
errors into one-line messages and exit codes (see ``errors``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .app import App
from .commands import language, maintenance, models
from .errors import exit_code_for, message_for


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (Exception, KeyboardInterrupt) as error:
            code = exit_code_for(error)
            if code is None:
                raise
            ctx.ensure_object(App).fail(message_for(error), code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="LAMINA_HOME",
              help="The store's root folder (default: $LAMINA_HOME, else the user data folder).")
@click.version_option(package_name="lamina")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """lamina: a content-addressed model store and Modelfile toolchain."""
    ctx.obj = App(home=home)


for command in (
    language.fmt, language.check,
    models.create, models.list_models, models.show, models.rm, models.cp, models.diff,
    maintenance.gc, maintenance.du, maintenance.verify,
):  # fmt: skip
    main.add_command(command)
