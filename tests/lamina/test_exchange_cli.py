"""export through click: exact output, JSON shapes, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lamina import schema
from lamina.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_gguf: Path) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("LAMINA_HOME", str(path))
    (tiny_gguf.parent / "Modelfile").write_text("FROM ./tiny.gguf\nSYSTEM hi\n")
    assert run("create", "tiny", "-f", str(tiny_gguf.parent / "Modelfile"))[0] == 0
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_export_to_ollama_from_the_environment(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    code, out, err = run("export", "tiny", "--to", "ollama")
    assert code == 0, err
    assert out == f"exported tiny:latest to {tmp_path / 'ollama'} (4 files, 552 B new on disk)\n"
    assert "hardlink  blobs/sha256-89a2116c" in err
    assert "written   manifests/registry.ollama.ai/library/tiny/latest" in err

    code, out, err = run("export", "tiny", "--to", "ollama", "--json")
    assert code == 0 and err == ""
    shown = schema.ExportOutput.model_validate_json(out)
    assert shown.new_size == 0 and {f.method for f in shown.files} == {"present", "unchanged"}

    code, out, err = run("export", "--remove", "tiny", "--to", "ollama", "--json")
    assert code == 0, out
    removed = schema.ExportRemovalOutput.model_validate_json(out)
    assert len(removed.removed) == 4 and removed.kept == []
    assert not (tmp_path / "ollama").exists()


def test_export_refusals(home: Path, tmp_path: Path) -> None:
    root = tmp_path / "o"
    theirs = root / "manifests/registry.ollama.ai/library/tiny/latest"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("{}")
    code, out, _ = run("export", "tiny", "--to", "ollama", "--dir", str(root), "--json")
    assert code == 1
    assert json.loads(out)["error"]["code"] == "export_conflict"
    code, _, err = run("export", "tiny", "--to", "ollama", "--dir", str(root))
    assert code == 1 and err.startswith(f"Error: {theirs}: ") and "--force" in err
    assert run("export", "tiny", "--to", "ollama", "--dir", str(root), "--force")[0] == 0

    assert run("export", "tiny", "--to", "vlc")[0] == 2
    assert run("export", "tiny")[0] == 2
    code, _, err = run("export", "missing", "--to", "ollama", "--dir", str(root))
    assert code == 1 and "model 'missing' not found" in err
    code, _, err = run("export", "--remove", "tiny", "--to", "ollama", "--dir", str(tmp_path))
    assert code == 1 and "has not exported tiny" in err


def test_export_to_lmstudio_finds_its_home(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "user"
    (user / ".cache" / "lm-studio").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(user))
    code, out, err = run("export", "tiny", "--to", "lmstudio")
    assert code == 0, err
    lms = user / ".cache" / "lm-studio"
    assert out == f"exported tiny:latest to {lms} (2 files, 245 B new on disk)\n"
    assert "hardlink  models/library/tiny+latest/tiny-latest.gguf" in err
    assert (lms / "hub/models/library/tiny-latest/model.yaml").is_file()
    code, out, err = run("export", "--remove", "tiny", "--to", "lmstudio", "-q")
    assert code == 0 and err == "" and out.startswith("removed 2 files")


def test_import_from_ollama_and_dedupe(home: Path, tmp_path: Path) -> None:
    from tests.store.test_adopt import ollama_dir

    root = tmp_path / "ollama"
    ollama_dir(root, "registry.ollama.ai/library/theirs/latest")
    code, out, err = run("import", "--from", "ollama", str(root))
    assert code == 0, err
    assert out == f"imported 1 model from {root}, 0 already in the store, 0 skipped\n"
    assert "imported  theirs:latest\n" in err  # its blobs were in the store already
    code, out, _ = run("import", "--from", "ollama", str(root), "--json")
    assert schema.ImportOutput.model_validate_json(out).models[0].status == "unchanged"
    code, out, _ = run("import", "--from", "ollama", str(tmp_path / "nowhere"))
    assert code == 1

    copy = tmp_path / "lms/models/a/b/tiny.gguf"
    copy.parent.mkdir(parents=True)
    copy.write_bytes((tmp_path / "tiny.gguf").read_bytes())
    code, out, _ = run("dedupe", str(tmp_path / "lms"))
    assert code == 0 and out.endswith("would save 68 B; run with --apply to link them\n")
    assert copy.stat().st_nlink == 1
    code, out, _ = run("dedupe", str(tmp_path / "lms"), "--apply", "--json")
    assert schema.DedupeOutput.model_validate_json(out).saved_size == 68
    assert copy.stat().st_nlink > 1
    assert run("dedupe")[0] == 2 and run("dedupe", str(tmp_path / "missing"))[0] == 1


def test_save_and_load(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "tiny.tar.zst"
    code, text, err = run("save", "tiny", "-o", str(out))
    assert code == 0, err
    assert text.startswith(f"saved 1 model (4 blobs) to {out}, ")
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "other"))
    code, text, err = run("load", str(out))
    assert (code, text) == (0, "loaded 1 model: 3 new blobs, 0 already in the store\n"), err
    code, text, _ = run("load", str(out), "--json")
    assert schema.LoadOutput.model_validate_json(text).present_blobs == 3
    (tmp_path / "junk.tar").write_bytes(b"junk" * 300)
    code, text, _ = run("load", str(tmp_path / "junk.tar"), "--json")
    assert code == 1 and json.loads(text)["error"]["code"] == "bundle_invalid"
    assert run("load", str(tmp_path / "nope.tar"))[0] == 1  # a missing input, as everywhere
    assert run("save", "missing", "-o", str(out))[0] == 1
    code, _, err = run("save", "tiny", "-o", str(tmp_path))
    assert code == 1 and err == f"Error: {tmp_path}: is a folder; give the bundle's file name " \
        "(-o models.tar)\n"
    code, _, err = run("save", "tiny", "-o", str(tmp_path / "no" / "x.tar"))
    assert code == 1 and err.startswith(f"Error: {tmp_path / 'no'}: no such folder")
