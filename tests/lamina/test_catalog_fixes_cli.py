"""The catalogue fixes as a user meets them: rm of a damaged model, names with digests, long
names, cp onto an existing name."""

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


def create(folder: Path, name: str, text: str) -> str:
    path = folder / f"{name}.Modelfile"
    path.write_text(text)
    code, out, err = run("create", name, "-f", str(path), "--json")
    assert code == 0, err
    return str(json.loads(out)["id"])


def test_rm_of_a_model_missing_a_blob_succeeds_with_a_warning(
    home: Path, tiny_gguf: Path
) -> None:
    create(tiny_gguf.parent, "m", "FROM ./tiny.gguf\n")
    weights = next((home / "blobs").glob("sha256-89a2*"))
    weights.unlink()
    code, out, err = run("rm", "m")
    assert code == 0
    assert out.startswith("deleted 'm:latest' (1 blob freed")
    assert err == f"warning: blob sha256:{weights.name[7:]} of 'm:latest' was already missing\n"


def test_rm_json_carries_the_warnings(home: Path, tiny_gguf: Path) -> None:
    create(tiny_gguf.parent, "m", "FROM ./tiny.gguf\n")
    (home / "manifests/registry.ollama.ai/library/m/latest").write_text("{")
    code, out, _ = run("rm", "m", "--json")
    (removed,) = json.loads(out)["removed"]
    assert code == 0 and "damaged" in removed["warnings"][0]


def test_rm_and_show_with_another_models_id_refuse(home: Path, tiny_gguf: Path) -> None:
    alpha = create(tiny_gguf.parent, "alpha", "FROM ./tiny.gguf\n")
    create(tiny_gguf.parent, "zeta", "FROM ./tiny.gguf\nSYSTEM z\n")
    for command in ("rm", "show"):
        code, _, err = run(command, f"zeta@{alpha}")
        assert code == 1 and err.startswith(f"Error: model 'zeta@{alpha}' not found: 'zeta:latest'")
    assert run("list")[1].count(":latest") == 2


def test_cp_refuses_a_digest_on_the_destination(home: Path, tiny_gguf: Path) -> None:
    alpha = create(tiny_gguf.parent, "alpha", "FROM ./tiny.gguf\n")
    code, _, err = run("cp", "alpha", f"beta@{alpha}")
    assert code == 1 and "the destination names a digest" in err


def test_cp_onto_an_existing_name_reports_the_pruned_blobs(home: Path, tiny_gguf: Path) -> None:
    create(tiny_gguf.parent, "a", "FROM ./tiny.gguf\nSYSTEM only-a\n")
    create(tiny_gguf.parent, "b", "FROM ./tiny.gguf\n")
    code, out, _ = run("cp", "b", "a", "--json")
    assert code == 0 and len(json.loads(out)["pruned_blobs"]) == 1  # the SYSTEM layer


def test_a_host_longer_than_a_file_name_is_an_invalid_name(home: Path) -> None:
    for command in (("show",), ("rm",), ("cp", "x")):
        code, _, err = run(*command, "h" * 300 + "/ns/m")
        assert code == 1
        assert err.startswith("Error: invalid model name") and "at most 255 bytes" in err
