"""lamina answers at once: importing the CLI, and running list and show, load no heavy module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lamina.cli import main

HEAVY = ("numpy", "gguf", "lark", "httpx", "pydantic", "rich")


def imported_by(code: str, env: dict[str, str] | None = None) -> list[str]:
    """The heavy top-level modules loaded after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys, json; print(json.dumps(sorted(set(m.split('.')[0] " \
            "for m in sys.modules))))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, env=env)
    loaded = json.loads(done.stdout.splitlines()[-1])
    return [name for name in HEAVY if name in loaded]


def calling(args: list[str]) -> str:
    return f"from lamina.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass"


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert imported_by("import lamina.cli") == []


def test_a_command_loads_only_its_own_module(tmp_path: Path) -> None:
    probe = (f"{calling(['list'])}\nimport sys\nprint(sorted(m for m in sys.modules"
             " if m.startswith(('lamina.commands.', 'store.'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, env={"LAMINA_HOME": str(tmp_path), "PATH": ""})
    loaded = done.stdout.splitlines()[-1]
    assert "lamina.commands.models" in loaded
    for unwanted in ("language", "maintenance", "store.create", "store.blobs", "store.gguf",
                     "store.inspect", "store.maintenance"):
        assert unwanted not in loaded


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["list"], ["show", "m"]])
def test_fast_commands_load_no_heavy_module(
    args: list[str], tmp_path: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("LAMINA_HOME", str(home))
    (tiny_gguf.parent / "Modelfile").write_text("FROM ./tiny.gguf\nSYSTEM hi\n")
    CliRunner().invoke(main, ["create", "m", "-f", str(tiny_gguf.parent / "Modelfile")],
                       catch_exceptions=False)
    assert imported_by(calling(args), env={"LAMINA_HOME": str(home), "PATH": ""}) == []


def test_json_output_needs_pydantic_only_then(tmp_path: Path) -> None:
    env = {"LAMINA_HOME": str(tmp_path), "PATH": ""}
    assert imported_by(calling(["list", "--json"]), env=env) == ["pydantic"]


def test_the_console_script_spares_start_up_the_garbage_collector() -> None:
    code = ("import gc, os, sys, lamina\nsys.argv = ['lamina', '--version']\n"
            "os._exit = lambda status: print(gc.get_threshold()[0], status)\nlamina.main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["lamina, version 0.1.0", "10000 0"]
    assert imported_by("import lamina") == [] and "click" not in fresh_modules("import lamina")


def fresh_modules(code: str) -> str:
    probe = f"{code}\nimport sys; print(sorted(sys.modules))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize(
    ("args", "status", "out", "err"),
    [
        (["--version"], 0, "lamina, version 0.1.0\n", ""),
        (["show", "nope"], 1, "", "Error: model 'nope' not found (see 'lamina list')\n"),
        (["list", "--json"], 0, '{"models":[]}\n', ""),
        (["gc", "--grace", "-1", "--json"], 2, None, ""),
    ],
)
def test_the_console_script_passes_exit_status_and_output_through(
    args: list[str], status: int, out: str | None, err: str, tmp_path: Path
) -> None:
    code = f"import sys, lamina\nsys.argv = ['lamina', *{args!r}]\nlamina.main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"LAMINA_HOME": str(tmp_path), "PATH": ""})
    assert (done.returncode, done.stderr) == (status, err)
    if out is not None:
        assert done.stdout == out
    else:
        assert json.loads(done.stdout)["error"]["code"] == "usage_error"
