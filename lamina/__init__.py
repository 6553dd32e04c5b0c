"""lamina's command-line interface; ``main`` is the ``lamina`` console script.

The click group itself is ``lamina.cli.main``; importing this package imports nothing else, so
that the console script can tune the process before the command line is built.
"""

__version__ = "0.1.0"  # the one place the version is written; pyproject reads it


def main() -> None:
    """Run the ``lamina`` command line, then end the process at once."""
    import gc
    import os
    import sys

    # Start-up creates tens of thousands of objects (modules, functions, classes) and no garbage;
    # at the default threshold the collector walks them a hundred times for nothing. A CLI
    # process is short-lived and its long operations (hashing, copying) allocate few containers.
    gc.set_threshold(10_000, 10, 10)
    # httpx imports its own command line (rich's syntax highlighting, pygments' lexers) when
    # they are installed, as they are here: 60 ms of every pull and push for a tool lamina never
    # runs. A None entry makes that one import fail at once, and httpx falls back to a stub.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from .cli import main as command_line

    try:
        command_line()
        code = 0
    except SystemExit as done:
        code = _exit_status(done.code)
    # Every file lamina opened is closed by now; skip the interpreter's teardown (freeing each
    # module and object, about 15 ms) once the standard streams are flushed.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe: what was written is what the reader took
            code = code or 1
    os._exit(code)


def _exit_status(code: object) -> int:
    if code is None or isinstance(code, int):
        return code or 0
    import sys

    print(code, file=sys.stderr)
    return 1


__all__ = ["__version__", "main"]
