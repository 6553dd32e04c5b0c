"""lamina's command-line interface; ``main`` is the ``lamina`` console script."""

from .cli import main

__all__ = ["main"]
