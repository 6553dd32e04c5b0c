"""The ``lamina`` command: a click group that gathers the command modules."""

from __future__ import annotations

import click

from .commands import language


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lamina")
def main() -> None:
    """lamina: a content-addressed model store and Modelfile toolchain."""


main.add_command(language.fmt)
main.add_command(language.check)
