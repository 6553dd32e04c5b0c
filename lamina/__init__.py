"""lamina's command-line interface; ``main`` is the ``lamina`` console script."""

__version__ = "0.1.0"  # the one place the version is written; pyproject reads it

from .cli import main

__all__ = ["__version__", "main"]
