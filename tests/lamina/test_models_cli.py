"""The store commands through click: exact output, JSON shapes and exit codes."""

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


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def modelfile(tmp_path: Path, text: str, name: str = "Modelfile") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_create_list_show_rm(home: Path, tiny_gguf: Path) -> None:
    path = modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\nSYSTEM be brief\nPARAMETER top_k 3\n")
    code, out, err = run("create", "demo", "-f", str(path))
    assert code == 0, err
    assert out.startswith("created demo:latest (")
    short_id = out.strip().removesuffix(")").rsplit("(", 1)[1]
    assert "creating new layer sha256:89a2116c" in err and "writing manifest" in err

    code, out, _ = run("list")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert row.split()[:2] == ["demo:latest", short_id] and len(short_id) == 12

    code, out, _ = run("list", "--json")
    (entry,) = json.loads(out)
    assert set(entry) == {"name", "id", "size", "modified"} and entry["name"] == "demo:latest"

    code, out, _ = run("show", "demo")
    assert "architecture      test" in out and "be brief" in out and "top_k" in out

    code, out, _ = run("show", "demo", "--json")
    shown = json.loads(out)
    assert (shown["system"], shown["params"], shown["quantization"]) == (
        "be brief", {"top_k": 3}, "unknown"
    )

    assert run("rm", "demo")[:2] == (0, "deleted 'demo:latest' (4 blobs freed)\n")
    assert run("list", "--json")[1] == "[]\n"


def test_show_modelfile_recreates_the_model(home: Path, tiny_gguf: Path) -> None:
    path = modelfile(tiny_gguf.parent, 'FROM ./tiny.gguf\nTEMPLATE """{{ .Prompt }}\n"""\n')
    run("create", "a", "-f", str(path))
    _code, text, _ = run("show", "a", "--modelfile")
    rebuilt = modelfile(tiny_gguf.parent, text, "Rebuilt")
    run("create", "b", "-f", str(rebuilt))
    ids = {entry["name"]: entry["id"] for entry in json.loads(run("list", "--json")[1])}
    assert ids["a:latest"] == ids["b:latest"]


def test_cp_and_diff(home: Path, tiny_gguf: Path) -> None:
    run("create", "a", "-f", str(modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\nSYSTEM one\n")))
    assert run("cp", "a", "b")[1] == "copied 'a' to 'b:latest'\n"
    _, out, _ = run("diff", "a", "b", "--json")
    assert json.loads(out)["identical"] is True
    run("create", "c", "-f", str(modelfile(tiny_gguf.parent, "FROM a\nSYSTEM two\n")))
    _code, out, _ = run("diff", "a", "c")
    assert out.splitlines()[0] == "1 shared layer, 1 only in a, 1 only in c"
    assert "-one\n+two\n" in out


def test_gc_du_verify(home: Path, tiny_gguf: Path) -> None:
    run("create", "a", "-f", str(modelfile(tiny_gguf.parent, "FROM ./tiny.gguf\nSYSTEM s\n")))
    code, out, _ = run("du", "--json")
    assert json.loads(out)["models"] == 1
    code, out, _ = run("verify")
    assert (code, out) == (0, "3 blobs checked: ok\n")
    code, out, _ = run("gc", "--dry-run", "--grace", "0")
    assert out == "would delete 0 blobs and 0 temp files, 0 B\n"
    system = next(p for p in (home / "blobs").iterdir() if p.stat().st_size == 1)
    system.write_bytes(b"X")
    code, out, _ = run("verify", "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and len(report["corrupt"]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "nope"), "Error: model 'nope' not found (see 'lamina list')\n"),
        (("rm", "nope"), "Error: model 'nope' not found (see 'lamina list')\n"),
        (("show", "bad name"), "Error: invalid model name: 'bad name'"),
        (("create", "x", "-f", "/nonexistent/Modelfile"),
         "Error: /nonexistent/Modelfile: no such Modelfile (give one with -f)\n"),
    ],
)
def test_errors_are_one_line_and_exit_1(home: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = run(*args)
    assert (code, out) == (1, "")
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_create_from_a_non_gguf_names_the_file(home: Path, tmp_path: Path) -> None:
    (tmp_path / "weights.gguf").write_text("<html>not found</html>")
    path = modelfile(tmp_path, "FROM ./weights.gguf\n")
    code, _out, err = run("create", "x", "-f", str(path))
    assert code == 1
    expected = f"Error: {tmp_path / 'weights.gguf'}: not a GGUF file (found"
    assert err.splitlines()[-1].startswith(expected)
    assert not (home / "manifests").exists()


def test_create_reports_modelfile_errors_with_location(home: Path, tmp_path: Path) -> None:
    path = modelfile(tmp_path, "FROM x\nPARAMETER temprature 1\n")
    code, _, err = run("create", "x", "-f", str(path))
    assert code == 1
    assert err.startswith(f"Error: {path}:2:11: unknown parameter 'temprature'")
