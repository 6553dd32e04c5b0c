"""The examples in package docstrings run as written."""

from __future__ import annotations

import doctest

import modelfile


def test_modelfile_docstring_examples() -> None:
    result = doctest.testmod(modelfile)
    assert result.attempted > 0 and result.failed == 0
