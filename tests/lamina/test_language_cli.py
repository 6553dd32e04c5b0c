"""``lamina fmt`` and ``lamina check`` through click, asserting output and exit codes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
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
    report = json.loads(out)
    assert (report["ok"], report["errors"], report["warnings"]) == (False, 2, 0)
    first, second = report["files"]
    assert first == {
        "file": str(good),
        "ok": False,
        "instructions": [
            {"line": 1, "instruction": "FROM", "value": "x", "name": None, "role": None},
            {"line": 2, "instruction": "PARAMETER", "value": "1", "name": "nope", "role": None},
            {"line": 3, "instruction": "MESSAGE", "value": "hi", "name": None, "role": "user"},
        ],
        "diagnostics": [
            {"severity": "error", "line": 2, "column": 11, "message": "unknown parameter 'nope'"}
        ],
    }
    assert second["ok"] is False and second["instructions"] == []
    assert second["diagnostics"][0]["message"].startswith("command must be one of")


@pytest.mark.parametrize("command", ["fmt", "check"])
def test_a_missing_path_fails_with_exit_1(command: str, tmp_path: Path) -> None:
    (tmp_path / "Modelfile").write_text(MESSY)
    missing = tmp_path / "nope"
    code, out, err = run(command, str(tmp_path / "Modelfile"), str(missing))
    assert (code, out, err) == (1, "", f"Error: {missing}: no such file or directory\n")
    assert (tmp_path / "Modelfile").read_text() == MESSY  # nothing done before the refusal


@pytest.mark.parametrize("command", ["fmt", "check"])
def test_bad_flags_stay_usage_errors(command: str, tmp_path: Path) -> None:
    assert run(command, "--nope", str(tmp_path))[0] == 2
    assert run(command)[0] == 2


def test_fmt_and_check_read_standard_input() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["fmt", "-"], input=MESSY, catch_exceptions=False)
    assert (result.exit_code, result.stdout) == (0, CANONICAL)
    result = runner.invoke(main, ["fmt", "--check", "-"], input=MESSY, catch_exceptions=False)
    assert (result.exit_code, result.stdout) == (1, "")
    result = runner.invoke(main, ["check", "--json", "-"], input="FROM x\nPARAMETER k 1\n",
                           catch_exceptions=False)
    (report,) = json.loads(result.stdout)["files"]
    assert (result.exit_code, report["file"], report["ok"]) == (1, "-", False)


def run_stdin(data: bytes, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=data, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_fmt_formats_a_symlinks_target_and_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real" / "llama.Modelfile"
    target.parent.mkdir()
    target.write_text(MESSY)
    link = tmp_path / "Modelfile"
    link.symlink_to(os.path.relpath(target, tmp_path))
    assert run("fmt", str(link)) == (0, "", f"reformatted {link}\n")
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_text() == CANONICAL
    assert sorted(p.name for p in target.parent.iterdir()) == ["llama.Modelfile"]


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o755, 0o664])
def test_fmt_keeps_the_mode_bits(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "Modelfile"
    path.write_text(MESSY)
    path.chmod(mode)
    run("fmt", str(path))
    assert (path.read_text(), stat.S_IMODE(path.stat().st_mode)) == (CANONICAL, mode)


INVALID_UTF8 = b"FROM x\nSYSTEM caf\xe9\n"


def test_fmt_refuses_invalid_utf8_and_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_bytes(INVALID_UTF8)
    for args in (("fmt",), ("fmt", "--check"), ("fmt", "--diff")):
        code, out, err = run(*args, str(path))
        assert (code, out) == (1, "")
        assert err.startswith(f"{path}:2:11: not valid UTF-8: 0xE9 cannot be decoded;")
        assert err.count("\n") == 1
    assert path.read_bytes() == INVALID_UTF8


def test_check_reports_invalid_utf8_as_an_error(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_bytes(INVALID_UTF8)
    code, out, _ = run("check", "--json", str(path))
    (diagnostic,) = json.loads(out)["files"][0]["diagnostics"]
    assert code == 1
    assert (diagnostic["severity"], diagnostic["line"], diagnostic["column"]) == ("error", 2, 11)
    assert diagnostic["message"].startswith("not valid UTF-8")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_check_reports_bomless_utf16_once(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "Modelfile"
    path.write_bytes("FROM llama3\nSYSTEM hello there\n".encode(codec))
    code, out, err = run("check", str(path))
    assert code == 1
    assert out.count("error:") == 1 and "warning" not in out
    assert f"{path}:1:1: error: the file is UTF-16 {codec[-2:].upper()} without" in out
    assert err == "1 file checked: 1 error, 0 warnings\n"


def test_walking_a_folder_skips_tool_folders(tmp_path: Path) -> None:
    for folder in (".git", ".hidden", ".venv", "venv", "node_modules", "env", "a/node_modules"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "Modelfile").write_text("FROM x\n")
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "a" / "b.Modelfile").write_text("FROM x\n")
    (tmp_path / "Modelfile").write_text("FROM x\n")
    code, out, _ = run("check", "--json", str(tmp_path))
    assert code == 0
    files = [report["file"] for report in json.loads(out)["files"]]
    assert files == [str(tmp_path / "Modelfile"), str(tmp_path / "a" / "b.Modelfile")]


def test_a_hidden_folder_named_directly_is_walked(tmp_path: Path) -> None:
    (tmp_path / ".config").mkdir()
    (tmp_path / ".config" / "Modelfile").write_text("FROM x\n")
    assert run("check", str(tmp_path / ".config"))[2] == "1 file checked: 0 errors, 0 warnings\n"


def test_fmt_diff_of_standard_input() -> None:
    code, out, err = run_stdin(MESSY.encode(), "fmt", "--diff", "-")
    assert (code, err) == (0, "")
    assert out.startswith("--- <stdin>\n+++ <stdin>\n@@ ")
    assert "\n-from llama3\n" in out and "\n+FROM llama3\n" in out and "\n # keep me\n" in out
    assert run_stdin(CANONICAL.encode(), "fmt", "--diff", "-") == (0, "", "")


def test_fmt_diff_marks_a_missing_last_line_end() -> None:
    _, out, _ = run_stdin(b"FROM x", "fmt", "--diff", "-")
    assert out.endswith("-FROM x\n\\ No newline at end of file\n+FROM x\n")


def test_fmt_check_of_standard_input_says_why() -> None:
    assert run_stdin(MESSY.encode(), "fmt", "--check", "-") == (
        1, "", "<stdin> is not formatted canonically\n")
    assert run_stdin(CANONICAL.encode(), "fmt", "--check", "-") == (0, "", "")
    assert run_stdin(b"\xef\xbb\xbf" + CANONICAL.encode(), "fmt", "--check", "-")[0] == 1


def test_fmt_of_standard_input_writes_canonical_text_even_when_unchanged() -> None:
    assert run_stdin(CANONICAL.encode(), "fmt", "-") == (0, CANONICAL, "")


USER_TEXT = "[bold]a:b:c[/bold] :smile:"


def test_check_prints_user_text_verbatim(tmp_path: Path) -> None:
    path = tmp_path / ":smile: [red]"
    path.mkdir()
    modelfile = path / "Modelfile"
    modelfile.write_text(f"FROM x\nPARAMETER top_k {USER_TEXT}\n")
    code, out, _ = run("check", str(modelfile))
    assert code == 1
    assert out.startswith(f"{modelfile}:2:17: error: invalid int value [{USER_TEXT}]\n")
    assert f"    PARAMETER top_k {USER_TEXT}\n" in out


def test_fmt_prints_user_text_verbatim(tmp_path: Path) -> None:
    folder = tmp_path / ":smile: [bold]x"
    folder.mkdir()
    path = folder / "Modelfile"
    path.write_text(f"from x\nSYSTEM {USER_TEXT}\n")
    assert run("fmt", "--diff", str(path))[1].endswith(f" SYSTEM {USER_TEXT}\n")
    assert run("fmt", str(path)) == (0, "", f"reformatted {path}\n")
    path.write_text(f"FROM x\nSYSTEM \"{USER_TEXT}\n")
    assert run("fmt", str(path))[2].startswith(f"{path}:2:8: unexpected EOF\n")


def test_fmt_and_check_keep_escape_sequences_when_piped() -> None:
    data = b"from x\nSYSTEM \x1b[31mred\n"
    _, out, _ = run_stdin(data, "fmt", "--diff", "-")
    assert "-SYSTEM \x1b[31mred\n" in out


def test_a_missing_path_under_json_is_a_json_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    code, out, err = run("check", "--json", str(missing))
    assert (code, err) == (1, "")
    assert json.loads(out) == {"error": {
        "code": "file_not_found", "message": f"{missing}: no such file or directory"}}


def test_fmt_refuses_bomless_utf16_and_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    data = "from x\nSYSTEM hi\n".encode("utf-16-le")
    path.write_bytes(data)
    code, out, err = run("fmt", str(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"{path}:1:1: the file is UTF-16 LE without a byte-order mark")
    assert err.count("\n") == 1 and path.read_bytes() == data


def test_fmt_check_and_diff_of_standard_input_together() -> None:
    code, out, err = run_stdin(MESSY.encode(), "fmt", "--check", "--diff", "-")
    assert (code, err) == (1, "<stdin> is not formatted canonically\n")
    assert out.startswith("--- <stdin>\n+++ <stdin>\n")


def test_fmt_of_invalid_standard_input_writes_nothing_to_stdout() -> None:
    code, out, err = run_stdin(INVALID_UTF8, "fmt", "-")
    assert (code, out) == (1, "")
    assert err.startswith("<stdin>:2:11: not valid UTF-8: 0xE9")


def test_quiet_leaves_only_results_and_the_exit_status(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_text(MESSY)
    assert run("fmt", "--check", "-q", str(path)) == (1, "", "")
    assert run("fmt", "--quiet", str(path)) == (0, "", "")
    assert path.read_text() == CANONICAL
    path.write_text("FROM x\nPARAMETER top_k many\n")
    code, out, err = run("check", "-q", str(path))
    assert (code, err) == (1, "") and "invalid int value" in out
