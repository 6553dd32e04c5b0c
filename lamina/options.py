"""Options shared by many commands, spelled and explained once."""

from __future__ import annotations

import os

import click

json_option = click.option(
    "--json", "as_json", is_flag=True,
    help="Print the result as one JSON object (shapes: docs/cli-output.schema.json).",
)  # fmt: skip
quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="Print no progress; results and errors only.",
)  # fmt: skip


class PathParam(click.Path):
    """A path argument or option; an empty one is a usage error, where click would take it as
    the current folder (``Path("")`` is ``.``) and a command could write there."""

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> str | bytes | os.PathLike[str]:
        if value == "" or value == b"":
            self.fail("is empty; give a file or folder name", param, ctx)
        return super().convert(value, param, ctx)  # type: ignore[arg-type]


class InputPath(PathParam):
    """A path lamina reads, which must exist: a missing one fails the command with exit 1 and
    ``file_not_found``, as a missing input does for every command (click would make it a usage
    error, 2). Whether it may be a file or a folder is still checked by click."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(exists=False, **kwargs)  # type: ignore[arg-type]

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> str | bytes | os.PathLike[str]:

        if value and isinstance(value, str | os.PathLike) and not os.path.lexists(value):
            from .app import App, Failure

            json_mode = ctx.ensure_object(App).json_mode if ctx is not None else False
            raise Failure(f"{os.fspath(value)}: no such file or directory",
                          code="file_not_found", exit_code=1, json_mode=json_mode)
        return super().convert(value, param, ctx)
