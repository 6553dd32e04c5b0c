"""check: types, unknown names, repeats, roles, REQUIRES; and the resolved recipe."""

from __future__ import annotations

import pytest

import modelfile


def diagnostics(text: str) -> list[tuple[str, int, int, str]]:
    found = modelfile.check(modelfile.parse(text))
    return [(d.severity, d.line, d.column, d.message) for d in found]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("PARAMETER num_ctx 1.0", "invalid int value [1.0]"),
        ("PARAMETER num_ctx 0x10", "invalid int value [0x10]"),
        ("PARAMETER seed 1_000", "invalid int value [1_000]"),
        ("PARAMETER seed 99999999999999999999", "invalid int value [99999999999999999999]"),
        ("PARAMETER temperature warm", "invalid float value [warm]"),
        ("PARAMETER temperature 1e39", "invalid float value [1e39]"),
        ("PARAMETER use_mmap yes", "invalid bool value [yes]"),
        ("PARAMETER use_mmap TRue", "invalid bool value [TRue]"),
    ],
)
def test_wrong_types_are_errors_at_the_value(line: str, message: str) -> None:
    assert diagnostics(f"FROM x\n{line}\n") == [("error", 2, line.rindex(" ") + 2, message)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("PARAMETER num_ctx 4096", 4096),
        ("PARAMETER seed -1", -1),
        ("PARAMETER seed +7", 7),
        ("PARAMETER temperature 0.6", 0.6000000238418579),
        ("PARAMETER temperature 1", 1.0),
        ("PARAMETER top_p .5", 0.5),
        ("PARAMETER min_p 5e-2", 0.05000000074505806),
        *[(f"PARAMETER use_mmap {t}", True) for t in ("1", "t", "T", "TRUE", "true", "True")],
        *[(f"PARAMETER use_mmap {f}", False) for f in ("0", "f", "F", "FALSE", "false", "False")],
    ],
)
def test_typed_values(line: str, expected: object) -> None:
    recipe = modelfile.resolve(modelfile.parse(f"FROM x\n{line}\n"))
    (value,) = recipe.parameters.values()
    assert value == expected and type(value) is type(expected)


def test_unknown_parameter_with_did_you_mean() -> None:
    found = modelfile.check(modelfile.parse("FROM x\nPARAMETER temprature 0.5\n"))
    assert [(d.message, d.line, d.column, d.hint) for d in found] == [
        ("unknown parameter 'temprature'", 2, 11, "did you mean 'temperature'?")
    ]


def test_deprecated_parameters_warn_and_are_dropped() -> None:
    parsed = modelfile.parse("FROM x\nPARAMETER mirostat 1\nPARAMETER top_k 5\n")
    assert diagnostics(modelfile.format(parsed)) == [
        ("warning", 2, 1, "parameter mirostat is deprecated")
    ]
    assert modelfile.resolve(parsed).parameters == {"top_k": 5}


def test_stop_accumulates_in_file_order() -> None:
    text = "FROM x\nPARAMETER stop <a>\nPARAMETER top_k 1\nPARAMETER stop <b>\n"
    assert modelfile.resolve(modelfile.parse(text)).parameters["stop"] == ["<a>", "<b>"]
    assert diagnostics(text) == []


def test_repeats_last_one_wins_with_a_warning_on_the_ignored_line() -> None:
    text = "FROM x\nSYSTEM one\nTEMPLATE t1\nSYSTEM two\nTEMPLATE t2\nPARAMETER top_k 1\n" \
        "PARAMETER top_k 2\n"
    recipe = modelfile.resolve(modelfile.parse(text))
    assert (recipe.system, recipe.template, recipe.parameters) == ("two", "t2", {"top_k": 2})
    assert diagnostics(text) == [
        ("warning", 2, 1, "SYSTEM is ignored: line 4 sets it again"),
        ("warning", 3, 1, "TEMPLATE is ignored: line 5 sets it again"),
        ("warning", 6, 1, "PARAMETER top_k is ignored: line 7 sets it again"),
    ]


def test_licenses_messages_and_froms_accumulate() -> None:
    text = "FROM a.gguf\nLICENSE MIT\nFROM b.gguf\nLICENSE extra\nMESSAGE user hi\n" \
        "MESSAGE assistant hello\n"
    recipe = modelfile.resolve(modelfile.parse(text))
    assert recipe.froms == ("a.gguf", "b.gguf")
    assert recipe.licenses == ("MIT", "extra")
    assert recipe.messages == (("user", "hi"), ("assistant", "hello"))
    assert diagnostics(text) == []


def test_empty_system_warns_that_it_clears_nothing() -> None:
    assert diagnostics('FROM x\nSYSTEM ""\n') == [("warning", 2, 1, "an empty SYSTEM sets nothing")]


def test_empty_from_is_an_error() -> None:
    assert diagnostics('FROM ""\n') == [
        ("error", 1, 1, "FROM needs a model name or a path to a GGUF file")
    ]


@pytest.mark.parametrize(
    ("version", "valid"),
    [
        ("0.14.0", True), ("v0.14.0", True), ("1", True), ("1.2", True),
        ("1.2.3-rc.1+build.5", True), ("1.2.3-alpha-1", True),
        ("1.2.3.4", False), ("01.2.3", False), ("1.2.3-01", False), ("1.2-rc1", False),
        ("latest", False), ("", False), ("1.2.3+", False),
    ],
)  # fmt: skip
def test_requires_is_semver(version: str, valid: bool) -> None:
    assert modelfile.is_valid_requires(version) is valid


def test_requires_error_and_normalised_value() -> None:
    assert diagnostics("FROM x\nREQUIRES soon\n") == [
        ("error", 2, 10, "requires must be a valid semver (e.g. 0.14.0)")
    ]
    assert modelfile.resolve(modelfile.parse("FROM x\nREQUIRES v0.14.0\n")).requires == "0.14.0"


def test_resolve_raises_with_every_diagnostic() -> None:
    parsed = modelfile.parse("FROM x\nPARAMETER nope 1\nMESSAGE robot hi\n", file="M")
    with pytest.raises(modelfile.ModelfileInvalid) as caught:
        modelfile.resolve(parsed)
    assert [d.line for d in caught.value.diagnostics] == [2, 3]
    assert str(caught.value).startswith("M:2:11: unknown parameter 'nope'")


def test_instruction_json_shape() -> None:
    parsed = modelfile.parse('FROM x\nPARAMETER stop "<|a|>"\nMESSAGE user """hi"""\n')
    assert [modelfile.instruction_json(i) for i in parsed.instructions] == [
        {"line": 1, "instruction": "FROM", "value": "x"},
        {"line": 2, "instruction": "PARAMETER", "value": "<|a|>", "name": "stop"},
        {"line": 3, "instruction": "MESSAGE", "value": "hi", "role": "user"},
    ]


def test_diagnostic_render_and_json() -> None:
    (found,) = modelfile.check(modelfile.parse("FROM x\nPARAMETER top_k many\n"))
    assert found.to_json() == {
        "severity": "error", "line": 2, "column": 17, "message": "invalid int value [many]"
    }
    assert found.render("M").splitlines()[:3] == [
        "M:2:17: error: invalid int value [many]",
        "    PARAMETER top_k many",
        "                    ^",
    ]


@pytest.mark.parametrize("text", ["inf", "-Infinity", "NaN"])
def test_non_finite_floats_are_refused(text: str) -> None:
    (found,) = modelfile.check(modelfile.parse(f"FROM x\nPARAMETER temperature {text}\n"))
    assert found.message == f"invalid float value [{text}]"


def test_floats_round_once_to_float32_as_go_does() -> None:
    # Rounding through float64 first would give 1.0; the exact decimal is nearer 1 + 2**-23.
    text = "FROM x\nPARAMETER temperature 1.000000059604644775390625000001\n"
    assert modelfile.resolve(modelfile.parse(text)).parameters["temperature"] == 1 + 2**-23
