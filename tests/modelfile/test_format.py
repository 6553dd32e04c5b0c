"""fmt: canonical, idempotent and lossless where Ollama's writer is not."""

from __future__ import annotations

import pytest

import modelfile
from modelfile import Instruction, Kind, Modelfile


def roundtrip(value: str) -> str:
    original = Modelfile((Instruction(Kind.FROM, "x"), Instruction(Kind.SYSTEM, value)))
    text = modelfile.format(original)
    assert modelfile.parse(text) == original, text
    return text.split("\n", 1)[1]


def test_canonical_layout() -> None:
    text = (
        "# header\n\n\n  from llama3\n  #  note  \nparameter\ttemperature   0.7\n"
        'system """\nhi\n"""\n\n\nmessage user  hello\n\n'
    )
    assert modelfile.format(modelfile.parse(text)) == (
        "# header\n\nFROM llama3\n#  note\nPARAMETER temperature 0.7\n"
        'SYSTEM """\nhi\n"""\n\nMESSAGE user hello\n'
    )


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", "SYSTEM plain\n"),
        ("", 'SYSTEM ""\n'),
        ("  leading and trailing blanks  ", 'SYSTEM "  leading and trailing blanks  "\n'),
        ("\ttabs\t", 'SYSTEM "\ttabs\t"\n'),
        ('"quoted"', 'SYSTEM ""quoted""\n'),
        ('"', 'SYSTEM """""""\n'),
        ('contains """ triple', 'SYSTEM contains """ triple\n'),
        (' has """ and blank ', 'SYSTEM " has """ and blank "\n'),
        ("line one\nline two", 'SYSTEM """line one\nline two"""\n'),
        ('ends with quote"\nnext', 'SYSTEM """ends with quote"\nnext"""\n'),
        ('a "b"\nc', 'SYSTEM """a "b"\nc"""\n'),
        ('x\ny"""', 'SYSTEM """x\ny""""""\n'),
        ("carriage\r\nreturn", 'SYSTEM """carriage\r\nreturn"""\n'),
    ],
)
def test_values_ollama_loses_are_kept(value: str, written: str) -> None:
    assert roundtrip(value) == written


@pytest.mark.parametrize("value", [' a"\nb"""\nc ', 'has """\nnewline'])
def test_unwritable_value_is_a_clear_error(value: str) -> None:
    bad = Modelfile((Instruction(Kind.FROM, "x"), Instruction(Kind.SYSTEM, value)))
    with pytest.raises(modelfile.ModelfileError, match="cannot be written"):
        modelfile.format(bad)


def test_format_is_idempotent_on_a_messy_file() -> None:
    text = 'FrOm  x\r\n\r\n\r\nparameter stop "<|x|>"\r\nSYSTEM """a\r\nb"""\r\n# c  \r\n'
    once = modelfile.format(modelfile.parse(text))
    assert modelfile.format(modelfile.parse(once)) == once
    assert modelfile.parse(once) == modelfile.parse(text)
