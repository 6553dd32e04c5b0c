"""The group itself: no arguments, usage errors, the exit-code table and name completion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.shell_completion import ShellComplete
from click.testing import CliRunner

from lamina import errors
from lamina.cli import main


def test_no_arguments_prints_help_and_exits_0() -> None:
    result = CliRunner().invoke(main, [], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: lamina [OPTIONS] [COMMAND] [ARGS]...")
    assert "Commands:" in result.stdout and result.stderr == ""


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"], catch_exceptions=False)
    assert (result.exit_code, result.stdout) == (0, "lamina, version 0.1.0\n")


def test_usage_errors_exit_2() -> None:
    for args in (["nope"], ["show"], ["list", "--bogus"], ["rm"]):
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 2, args
        assert "Usage:" in result.stderr and result.stdout == ""


def test_an_empty_home_is_a_usage_error_not_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_gguf: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Modelfile").write_text("FROM ./tiny.gguf\n")
    for args, env in (
        (["--home", "", "create", "m"], {}),
        (["create", "m"], {"LAMINA_HOME": ""}),
    ):
        result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
        assert result.exit_code == 2, (args, env, result.stderr)
        assert "empty" in result.stderr and result.stdout == ""
        assert sorted(p.name for p in tmp_path.iterdir()) == ["Modelfile", "tiny.gguf"]
    result = CliRunner().invoke(main, ["list", "--json"], env={"LAMINA_HOME": ""},
                                catch_exceptions=False)
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "usage_error" and "LAMINA_HOME is set but empty" in error["message"]
    # a --home given beats an empty LAMINA_HOME, as any value given beats the environment
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "list"],
                                env={"LAMINA_HOME": ""}, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr


def test_an_unforeseen_error_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import store

    def broken(self: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.delenv("LAMINA_DEBUG", raising=False)
    monkeypatch.setattr(store.Store, "survey", broken)
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "list"], catch_exceptions=False)
    assert (result.exit_code, result.stderr) == (
        1, "Error: internal error (RuntimeError: boom); please report it\n")


def test_exit_codes_table() -> None:
    assert (errors.SUCCESS, errors.FAILED, errors.USAGE) == (0, 1, 2)
    assert errors.explain(FileNotFoundError(2, "No such file or directory", "x")) == (
        errors.Explained("x: no such file or directory", "file_not_found", 1))
    assert errors.explain(KeyboardInterrupt()).exit_code == 130


def complete(args: list[str], incomplete: str) -> list[str]:
    completion = ShellComplete(main, {}, "lamina", "_LAMINA_COMPLETE")
    return [item.value for item in completion.get_completions(args, incomplete)]


def test_completion_offers_stored_model_names(
    tmp_path: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "home"))
    (tiny_gguf.parent / "Modelfile").write_text("FROM ./tiny.gguf\n")
    for name in ("gemma3-chat", "pirate", "team/pirate:v2"):
        CliRunner().invoke(main, ["create", "-q", name, "-f", str(tiny_gguf.parent / "Modelfile")],
                           catch_exceptions=False)
    assert complete(["show"], "") == ["gemma3-chat:latest", "pirate:latest", "team/pirate:v2"]
    assert complete(["rm", "gemma3-chat"], "Pi") == ["pirate:latest"]
    assert complete(["diff"], "team/") == ["team/pirate:v2"]
    other = tmp_path / "other"
    assert complete(["--home", str(other), "show"], "") == []


def test_a_closed_pipe_ends_quietly(tmp_path: Path, tiny_gguf: Path) -> None:
    env = {"LAMINA_HOME": str(tmp_path / "home"), "PATH": ""}
    (tiny_gguf.parent / "Modelfile").write_text('FROM ./tiny.gguf\nSYSTEM """' + "x\n" * 100_000
                                                + '"""\n')
    script = "import sys, lamina\nsys.argv[0] = 'lamina'\nlamina.main()"
    subprocess.run([sys.executable, "-c", script, "create", "-q", "big", "-f",
                    str(tiny_gguf.parent / "Modelfile")], env=env, check=True,
                   capture_output=True)
    errors = tmp_path / "stderr"
    with errors.open("wb") as stderr:
        shown = subprocess.Popen([sys.executable, "-c", script, "show", "big", "--system"],
                                 env=env, stdout=subprocess.PIPE, stderr=stderr)
        assert shown.stdout is not None
        with shown.stdout:
            assert shown.stdout.readline() == b"x\n"
        assert shown.wait() == 1
    assert errors.read_bytes() == b""


def test_every_error_code_lamina_raises_is_in_the_schema() -> None:
    import ast

    import lamina

    used = set()
    for path in Path(lamina.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(
                    node.value, ast.Constant):
                used.add(node.value.value)
    assert used and used <= set(errors.ERROR_CODES)
