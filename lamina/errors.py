"""The one table that turns library errors into messages and exit codes."""

from __future__ import annotations

import modelfile
import store

EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (modelfile.ModelfileError, 1),
    (store.StoreError, 1),
    (KeyboardInterrupt, 130),
)


def exit_code_for(error: BaseException) -> int | None:
    """The exit code for an error lamina explains itself, or None for a bug."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return None


def message_for(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted; nothing was published"
    return str(error)
