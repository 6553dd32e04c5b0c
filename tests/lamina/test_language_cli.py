"""``lamina fmt`` and ``lamina check`` through click, asserting output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lamina.cli import main

MESSY = 'from llama3\nparameter stop "<|x|>"\n# keep me\nSYSTEM """hi"""\n'
CANONICAL = "FROM llama3\nPARAMETER stop <|x|>\n# keep me\nSYSTEM hi\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_fmt_rewrites_in_place(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_text(MESSY)
    assert run("fmt", str(path)) == (0, "", f"reformatted {path}\n")
    assert path.read_text() == CANONICAL
    assert run("fmt", str(path)) == (0, "", "")


def test_fmt_check_exits_1_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.Modelfile"
    path.write_text(MESSY)
    assert run("fmt", "--check", str(tmp_path)) == (1, "", f"would reformat {path}\n")
    assert path.read_text() == MESSY


def test_fmt_check_passes_on_canonical_files(tmp_path: Path) -> None:
    (tmp_path / "Modelfile").write_text(CANONICAL)
    assert run("fmt", "--check", str(tmp_path)) == (0, "", "")


def test_fmt_diff(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_text(MESSY)
    code, out, _ = run("fmt", "--diff", str(path))
    assert code == 0
    assert "-from llama3\n" in out and "+FROM llama3\n" in out
    assert " # keep me\n" in out
    assert path.read_text() == MESSY


def test_fmt_normalises_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_bytes(b"\xef\xbb\xbfFROM x\r\n")
    assert run("fmt", "--check", str(path))[0] == 1
    run("fmt", str(path))
    assert path.read_bytes() == b"FROM x\n"


def test_fmt_reports_syntax_errors_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_text("FROM x\nSYSTEM \"open\n")
    code, out, err = run("fmt", str(path))
    assert code == 1 and out == ""
    assert err.startswith(f"{path}:2:8: unexpected EOF\n")


def test_check_text_output(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_text("FROM x\nPARAMETER top_k many\n")
    code, out, err = run("check", str(path))
    assert code == 1
    assert out == (
        f"{path}:2:17: error: invalid int value [many]\n"
        "    PARAMETER top_k many\n"
        "                    ^\n"
        "hint: write a whole number in base 10, like 4096\n"
    )
    assert err == "1 file checked: 1 error, 0 warnings\n"


def test_check_warnings_alone_exit_0(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_text("FROM x\nSYSTEM a\nSYSTEM b\n")
    code, out, _ = run("check", str(path))
    assert code == 0
    assert "warning: SYSTEM is ignored: line 3 sets it again" in out


def test_check_json_shape(tmp_path: Path) -> None:
    good = tmp_path / "a.Modelfile"
    good.write_text('FROM x\nPARAMETER nope 1\nMESSAGE user "hi"\n')
    bad = tmp_path / "b.Modelfile"
    bad.write_text("FRM x\n")
    code, out, _ = run("check", "--json", str(good), str(bad))
    assert code == 1
    first, second = (json.loads(line) for line in out.splitlines())
    assert first == {
        "file": str(good),
        "ok": False,
        "instructions": [
            {"line": 1, "instruction": "FROM", "value": "x"},
            {"line": 2, "instruction": "PARAMETER", "value": "1", "name": "nope"},
            {"line": 3, "instruction": "MESSAGE", "value": "hi", "role": "user"},
        ],
        "diagnostics": [
            {"severity": "error", "line": 2, "column": 11, "message": "unknown parameter 'nope'"}
        ],
    }
    assert second["ok"] is False and second["instructions"] == []
    assert second["diagnostics"][0]["message"].startswith("command must be one of")


def test_check_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("check", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err


def test_fmt_and_check_read_standard_input() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["fmt", "-"], input=MESSY, catch_exceptions=False)
    assert (result.exit_code, result.stdout) == (0, CANONICAL)
    result = runner.invoke(main, ["fmt", "--check", "-"], input=MESSY, catch_exceptions=False)
    assert (result.exit_code, result.stdout) == (1, "")
    result = runner.invoke(main, ["check", "--json", "-"], input="FROM x\nPARAMETER k 1\n",
                           catch_exceptions=False)
    report = json.loads(result.stdout)
    assert (result.exit_code, report["file"], report["ok"]) == (1, "-", False)
