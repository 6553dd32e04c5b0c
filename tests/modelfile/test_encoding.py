"""Decoding refuses what Ollama would mangle; invisible characters keep true columns."""

from __future__ import annotations

import codecs

import pytest

import modelfile
from modelfile.encoding import bomless_utf16

TEXT = "FROM llama3\nSYSTEM héllo\n"


@pytest.mark.parametrize(
    ("data", "where", "name"),
    [
        (b"FROM x\nSYSTEM a\xffb\n", (2, 9), "UTF-8: 0xFF"),
        (b"FROM x\r\nSYSTEM \xc3(\n", (2, 8), "UTF-8: 0xC3"),
        (codecs.BOM_UTF8 + b"\x80FROM x\n", (1, 1), "UTF-8: 0x80"),
        (codecs.BOM_UTF16_LE + "FROM x\n".encode("utf-16-le") + b"\x00\xdc", (2, 1),
         "UTF-16 LE: 0x00 0xDC"),
    ],
    ids=["utf8", "utf8-crlf", "utf8-bom", "utf16-lone-surrogate"],
)
def test_invalid_bytes_are_refused_at_their_place(
    data: bytes, where: tuple[int, int], name: str
) -> None:
    with pytest.raises(modelfile.ModelfileEncodingError) as caught:
        modelfile.parse(data, file="m")
    error = caught.value
    assert isinstance(error, modelfile.ModelfileSyntaxError)
    assert (error.line, error.column) == where
    assert error.message.startswith(f"not valid {name} cannot be decoded")
    assert "\n" not in str(error)  # one line
    assert str(error).startswith(f"m:{where[0]}:{where[1]}: not valid")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_one_clear_error(codec: str) -> None:
    data = (TEXT * 40).encode(codec)
    name = "UTF-16 LE" if codec.endswith("le") else "UTF-16 BE"
    assert bomless_utf16(data) == name
    with pytest.raises(modelfile.ModelfileEncodingError) as caught:
        modelfile.parse(data, file="m")
    assert (caught.value.line, caught.value.column) == (1, 1)
    assert caught.value.message.startswith(f"the file is {name} without a byte-order mark")


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode(),
        b"FROM x\n",
        b"FR",
        b"",
        "SYSTEM 日本語のテキスト\n".encode("utf-16-le"),  # no NULs: not recognised, not UTF-8
        b"GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    ],
)
def test_utf16_guess_stays_quiet_on_other_bytes(data: bytes) -> None:
    assert bomless_utf16(data) is None


def test_utf16_guess_survives_a_sample_cut_in_a_surrogate_pair() -> None:
    data = ("F" * 511 + "\U0001f600" + "x" * 10).encode("utf-16-le")
    assert bomless_utf16(data) == "UTF-16 LE"


def test_decode_with_a_bom_still_reads_utf16() -> None:
    data = codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be")
    assert modelfile.decode(data) == TEXT


def test_every_invisible_character_on_a_line_gets_its_own_column() -> None:
    parsed = modelfile.parse("FROM x\nSYSTEM a\u200db\u00a0c\u200bd\n")
    assert [(p.line, p.column) for p, _ in parsed.invisible] == [(2, 9), (2, 11), (2, 13)]
    warnings = modelfile.check(parsed)
    assert [(d.line, d.column) for d in warnings] == [(2, 9), (2, 11), (2, 13)]
    # The quoted line marks each removed character, so the caret stands under it.
    assert warnings[1].source_line == "SYSTEM a\u00b7b\u00b7c\u00b7d"
    assert warnings[1].render().splitlines()[2] == "    " + " " * 10 + "^"


def test_positions_after_invisible_characters_count_them() -> None:
    parsed = modelfile.parse("FROM x\n\u200b\u200bPARAMETER top_k x\n")
    parameter = parsed.instructions[1]
    assert (parameter.position.column, parameter.value_position.column) == (3, 19)
    (error,) = (d for d in modelfile.check(parsed) if d.severity == "error")
    assert (error.line, error.column) == (2, 19)
    with pytest.raises(modelfile.ModelfileSyntaxError) as caught:
        modelfile.parse("FROM x\n\u200bPARAMETR top_k 1\n")
    assert (caught.value.line, caught.value.column) == (2, 2)
