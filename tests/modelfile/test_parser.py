"""Reading Modelfiles exactly as Ollama reads them."""

from __future__ import annotations

import codecs

import pytest

import modelfile
from modelfile import Comment, Kind, Message, Parameter


def only(text: str) -> modelfile.Instruction:
    """The single non-FROM instruction of ``FROM base`` + text."""
    parsed = modelfile.parse("FROM base\n" + text)
    rest = parsed.instructions[1:]
    assert len(rest) == 1, rest
    return rest[0]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("FROM x", Kind.FROM),
        ("from x", Kind.FROM),
        ("FrOm x", Kind.FROM),
        ("TEMPLATE x", Kind.TEMPLATE),
        ("system x", Kind.SYSTEM),
        ("ADAPTER x", Kind.ADAPTER),
        ("license x", Kind.LICENSE),
        ("REQUIRES 0.14.0", Kind.REQUIRES),
        ("draft ./d.gguf", Kind.DRAFT),
        ("RENDERER x", Kind.RENDERER),
        ("parser x", Kind.PARSER),
    ],
)
def test_instructions_are_case_insensitive(line: str, kind: Kind) -> None:
    assert only(line).kind is kind


def test_values_run_to_the_end_of_the_line_and_are_trimmed() -> None:
    assert only("SYSTEM   you are   helpful \t").value == "you are   helpful"


def test_hash_after_a_value_is_part_of_the_value() -> None:
    parsed = modelfile.parse("FROM foo # x\n")
    assert parsed.instructions[0].value == "foo # x"


def test_comments_only_at_line_start_with_leading_blanks() -> None:
    parsed = modelfile.parse("# top\n   \t# indented\nFROM x\n")
    assert parsed.items[:2] == (Comment(" top"), Comment(" indented"))


def test_leading_blanks_before_an_instruction() -> None:
    assert only("   SYSTEM hi").value == "hi"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('SYSTEM "quoted"', "quoted"),
        ('SYSTEM """triple"""', "triple"),
        ('SYSTEM "  kept blanks  "', "  kept blanks  "),
        ('SYSTEM ""', ""),
        ('SYSTEM """"""', ""),
        ("SYSTEM ", ""),
        ('SYSTEM "a\nb"', "a\nb"),
        ('SYSTEM """a\n  b\n"""', "a\n  b\n"),
        ('SYSTEM "abc" def"', 'abc" def'),
        ('SYSTEM a "b" c', 'a "b" c'),
        ('SYSTEM "a" b\nc"', 'a" b\nc'),
        ('SYSTEM """a "quoted" b"""', 'a "quoted" b'),
        ('SYSTEM """a"""   ', "a"),
        ('SYSTEM C:\\path\\n', "C:\\path\\n"),
        ('SYSTEM "no \\" escapes"', 'no \\" escapes'),
        ('SYSTEM """""\nx"""', '""\nx'),
        ('SYSTEM ""x"', '"x'),
    ],
)
def test_quoting(text: str, value: str) -> None:
    assert only(text).value == value


def test_multiline_quote_closes_at_first_line_ending_with_the_quote() -> None:
    parsed = modelfile.parse('FROM x\nSYSTEM """one\ntwo"""\nPARAMETER top_k 3\n')
    assert [i.value for i in parsed.instructions] == ["x", "one\ntwo", "3"]


def test_parameter_name_keeps_case_and_value() -> None:
    instruction = only("PARAMETER Top_K 40")
    assert isinstance(instruction, Parameter)
    assert (instruction.name, instruction.value) == ("Top_K", "40")


def test_message_role_and_text() -> None:
    instruction = only('MESSAGE assistant """Hi!\nHow can I help?"""')
    assert isinstance(instruction, Message)
    assert (instruction.role, instruction.value) == ("assistant", "Hi!\nHow can I help?")


def test_tabs_separate_like_blanks() -> None:
    instruction = only("PARAMETER\tstop\t<|end|>")
    assert isinstance(instruction, Parameter)
    assert (instruction.name, instruction.value) == ("stop", "<|end|>")


def test_from_may_come_anywhere_and_everything_may_repeat() -> None:
    parsed = modelfile.parse("PARAMETER stop a\nPARAMETER stop b\nFROM x\nFROM y\n")
    assert [i.kind for i in parsed.instructions] == [Kind.PARAMETER] * 2 + [Kind.FROM] * 2


def test_crlf_line_ends() -> None:
    parsed = modelfile.parse("FROM x\r\nSYSTEM hi\r\nPARAMETER stop a\r\n")
    assert [i.value for i in parsed.instructions] == ["x", "hi", "a"]
    assert parsed.instructions[2].position.line == 3


def test_crlf_inside_a_quoted_value_is_kept_as_ollama_does() -> None:
    parsed = modelfile.parse('FROM x\r\nSYSTEM """a\r\nb"""\r\n')
    assert parsed.instructions[1].value == "a\r\nb"


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + "FROM x\nSYSTEM héllo\n".encode(),
        codecs.BOM_UTF16_LE + "FROM x\nSYSTEM héllo\n".encode("utf-16-le"),
        codecs.BOM_UTF16_BE + "FROM x\nSYSTEM héllo\n".encode("utf-16-be"),
        "FROM x\nSYSTEM héllo\n".encode(),
    ],
    ids=["utf8-bom", "utf16-le", "utf16-be", "utf8"],
)
def test_encodings(data: bytes) -> None:
    parsed = modelfile.parse(data)
    assert [i.value for i in parsed.instructions] == ["x", "héllo"]


def test_bom_in_a_str_is_ignored() -> None:
    assert modelfile.parse("\ufeffFROM x").instructions[0].value == "x"


def test_invisible_characters_are_dropped_and_reported() -> None:
    parsed = modelfile.parse("FROM x\nSYSTEM a\u200db\u00a0c\n")
    assert parsed.instructions[1].value == "abc"
    assert [char for _, char in parsed.invisible] == ["\u200d", "\u00a0"]
    warnings = [d for d in modelfile.check(parsed) if d.severity == "warning"]
    assert [d.line for d in warnings] == [2, 2]
    assert "U+200D" in warnings[0].message


def test_positions_are_one_based_line_and_column() -> None:
    parsed = modelfile.parse("FROM x\n\n  SYSTEM   hi\n")
    system = parsed.instructions[1]
    assert (system.position.line, system.position.column) == (3, 3)
    assert (system.value_position.line, system.value_position.column) == (3, 12)


def test_parse_file_reads_bytes_and_names_the_file(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "Modelfile"  # type: ignore[operator]
    path.write_bytes(codecs.BOM_UTF16_LE + "FROM x\n".encode("utf-16-le"))
    parsed = modelfile.parse_file(path)
    assert parsed.file == str(path)
    assert parsed.instructions[0].value == "x"


def test_parse_file_missing_is_a_modelfile_error(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(modelfile.ModelfileError, match="cannot read"):
        modelfile.parse_file(tmp_path / "nope")  # type: ignore[operator]
