"""Options shared by many commands, spelled and explained once."""

from __future__ import annotations

import click

json_option = click.option(
    "--json", "as_json", is_flag=True,
    help="Print the result as one JSON object (shapes: docs/cli-output.schema.json).",
)  # fmt: skip
quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="Print no progress; results and errors only.",
)  # fmt: skip
