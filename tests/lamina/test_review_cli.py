"""Regressions found by trying every command as a demanding new user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lamina.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("LAMINA_HOME", str(path))
    return path


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def create(folder: Path, name: str, text: str) -> None:
    path = folder / f"{name}.Modelfile"
    path.write_text(text)
    code, _, err = run("create", name, "-f", str(path))
    assert code == 0, err


@pytest.mark.parametrize("flags", [
    ("--system", "--template"), ("--modelfile", "--license"), ("--parameters", "--json"),
])
def test_show_refuses_two_sections_instead_of_printing_one(
    home: Path, tiny_gguf: Path, flags: tuple[str, ...]
) -> None:
    create(tiny_gguf.parent, "m", "FROM ./tiny.gguf\nSYSTEM s\nTEMPLATE t\n")
    code, out, err = run("show", "m", *flags)
    assert code == 2, (out, err)
    assert out == "" or json.loads(out)["error"]["code"] == "usage_error"
    assert all(flag in err + out for flag in flags)


def overwrite_layer(home: Path, name: str, media_type: str, data: bytes) -> None:
    manifest = home / "manifests" / "registry.ollama.ai" / "library" / name / "latest"
    (layer,) = (lay for lay in json.loads(manifest.read_text())["layers"]
                if lay["mediaType"] == media_type)
    blob = home / "blobs" / layer["digest"].replace(":", "-")
    blob.chmod(0o644)
    blob.write_bytes(data)


@pytest.mark.parametrize(("media_type", "data"), [
    ("params", b'{"temperature": null}'),
    ("params", b'{"top_k": {"a": 1}}'),
    ("params", b'{"stop": ["x", 5]}'),
    ("messages", b'[{"content": "no role"}]'),
    ("messages", b'[{"role": "user", "content": 5}]'),
    ("messages", b'["hi"]'),
])
def test_a_damaged_params_or_messages_layer_is_an_error_not_python_text(
    home: Path, tiny_gguf: Path, media_type: str, data: bytes
) -> None:
    create(tiny_gguf.parent, "m", "FROM ./tiny.gguf\nPARAMETER top_k 3\nMESSAGE user hi\n")
    overwrite_layer(home, "m", f"application/vnd.ollama.image.{media_type}", data)
    for args in (("show", "m"), ("show", "m", "--modelfile"), ("show", "m", "--parameters")):
        code, out, err = run(*args)
        assert code == 1 and out == "", (args, out)
        assert "None" not in err and "{'" not in err and f"{media_type} layer" in err
        assert "lamina verify" in err
    code, out, _ = run("show", "m", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "blob_invalid"


@pytest.mark.parametrize("keyword", ["FROM", "ADAPTER", "DRAFT"])
def test_weights_that_are_no_regular_file_are_not_called_a_folder(
    home: Path, tmp_path: Path, tiny_gguf: Path, keyword: str
) -> None:
    import os

    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    base = "" if keyword == "FROM" else "FROM ./tiny.gguf\n"
    for target in ("/dev/null", str(fifo)):
        path = tmp_path / "Modelfile"
        path.write_text(f"{base}{keyword} {target}\n")
        code, _, err = run("create", "m", "-f", str(path))
        assert code == 1
        assert "cannot build from this folder" not in err and "not a regular file" in err, err


def test_load_of_a_missing_file_is_1_like_every_missing_input(home: Path, tmp_path: Path) -> None:
    code, _, err = run("load", str(tmp_path / "nope.tar"))
    assert code == 1 and "nope.tar: no such file" in err
    code, out, _ = run("load", str(tmp_path / "nope.tar"), "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "file_not_found"
    code, _, err = run("load", str(tmp_path))
    assert code == 1 and "is a folder" in err


def test_save_refuses_a_folder_and_standard_output_without_writing_anything(
    home: Path, tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(tiny_gguf.parent, "m", "FROM ./tiny.gguf\n")
    folder = tmp_path / "out"
    folder.mkdir()
    code, _, err = run("save", "m", "-o", str(folder))
    assert code == 1 and f"{folder}: is a folder" in err and ".partial" not in err
    monkeypatch.chdir(folder)
    code, _, err = run("save", "m", "-o", "-")
    assert code == 2 and "-o -" in err
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("args", [
    ("dedupe", "{missing}"),
    ("serve", "--auth", "htpasswd", "--htpasswd", "{missing}"),
    ("serve", "--tls-cert", "{missing}", "--tls-key", "{missing}"),
])
def test_a_missing_input_file_is_1_for_every_command(
    home: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    missing = str(tmp_path / "missing")
    filled = [arg.format(missing=missing) for arg in args]
    code, _, err = run(*filled)
    assert code == 1 and f"{missing}: no such file or directory" in err, err
    code, out, _ = run(*filled, "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "file_not_found"
