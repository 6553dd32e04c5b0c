"""Input a new user gets wrong: empty paths and hosts, prompts without a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lamina.cli import main


@pytest.fixture(autouse=True)
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAMINA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


EMPTY_PATHS = [
    ("check", ""), ("fmt", ""), ("create", "m", "-f", ""), ("lock", "-f", ""),
    ("export", "m", "--to", "ollama", "--dir", ""), ("import", "--from", "ollama", ""),
    ("dedupe", ""), ("save", "m", "-o", ""), ("load", ""), ("serve", "--htpasswd", ""),
]


@pytest.mark.parametrize("args", EMPTY_PATHS, ids=lambda args: args[0])
def test_an_empty_path_is_a_usage_error_not_the_current_folder(
        args: tuple[str, ...], homes: Path, tiny_gguf: Path) -> None:
    (homes / "Modelfile").write_text("FROM ./tiny.gguf\n")
    before = sorted(p.name for p in homes.iterdir())
    code, out, err = run(*args)
    assert code == 2, err
    assert "is empty; give a file or folder name" in err and out == ""
    assert sorted(p.name for p in homes.iterdir()) == before  # nothing written here
    code, out, _ = run(*args, "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "usage_error"


@pytest.mark.parametrize("host", ["", "a b", "http://x/y", "ü.example", "x/y"])
def test_login_refuses_what_is_not_a_host(host: str, homes: Path) -> None:
    code, out, err = run("login", host, "-u", "me", "--password-stdin", stdin="pw\n")
    assert (code, out) == (2, "")
    assert "is not a registry host; give host or host:port" in err
    assert not (homes / "config").exists()


def test_login_without_a_terminal_says_which_options_to_give() -> None:
    for args in (["login", "registry.example"], ["login", "registry.example", "-u", "me"]):
        code, out, err = run(*args, stdin="")
        assert (code, out) == (2, "")
        assert "no terminal to ask for the" in err and "--password-stdin" in err
        assert "Aborted" not in err


@pytest.mark.parametrize("value", ["", "a b", "x:80", "http://x", "x/y"])
def test_serve_refuses_a_redirect_host_that_is_not_a_host_name(value: str) -> None:
    code, out, err = run("serve", "--port", "0", "--redirect-host", value)
    assert (code, out) == (2, "")
    assert "is not a host name (no scheme, port or path)" in err


def test_save_never_replaces_a_device_pipe_or_link(homes: Path, tiny_gguf: Path) -> None:
    import os
    import stat

    (homes / "Modelfile").write_text("FROM ./tiny.gguf\n")
    assert run("create", "m", "-q")[0] == 0
    fifo = homes / "fifo"
    os.mkfifo(fifo)
    target = homes / "kept.tar"
    target.write_bytes(b"mine")
    link = homes / "link.tar"
    link.symlink_to(target)
    for out in (fifo, link):  # not /dev/null: were this broken, root would replace it
        code, stdout, err = run("save", "m", "-o", str(out))
        assert (code, stdout) == (2, ""), err
        assert "is a link, device, pipe or socket" in err
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.is_symlink()
    assert target.read_bytes() == b"mine"


def test_lock_refuses_a_modelfile_that_is_not_a_file(homes: Path) -> None:
    import os

    fifo = homes / "Modelfile"
    os.mkfifo(fifo)
    code, out, err = run("lock", "-f", str(fifo))
    assert (code, out) == (2, "")
    assert "is not a file; the lock is written beside the Modelfile" in err
    assert not (homes / "Modelfile.lock").exists()
