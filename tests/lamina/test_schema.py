"""One JSON convention: the committed schema matches the models, and real output validates."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from lamina import schema
from lamina.cli import main

SCHEMA_FILE = Path(__file__).parents[2] / "docs" / "cli-output.schema.json"


def test_the_committed_schema_matches_the_models() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema.schema_text(), (
        "regenerate it: python -m lamina.schema > docs/cli-output.schema.json"
    )


def run_json(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--json"], input=stdin, catch_exceptions=False)
    assert result.stderr == "", result.stderr
    assert result.stdout.count("\n") == 1  # one document, one line
    return result.exit_code, result.stdout


def test_every_command_prints_its_shape(
    tmp_path: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "home"))
    folder = tiny_gguf.parent
    (folder / "Modelfile").write_text("FROM ./tiny.gguf\nSYSTEM hi\nPARAMETER stop <x>\n")
    (folder / "Child").write_text("FROM a\nPARAMETER temperature 0.5\nMESSAGE user hello\n")
    calls: list[tuple[type[BaseModel], tuple[str, ...], int]] = [
        (schema.CreateOutput, ("create", "a", "-f", str(folder / "Modelfile")), 0),
        (schema.CreateOutput, ("create", "b", "-f", str(folder / "Child")), 0),
        (schema.ListOutput, ("list",), 0),
        (schema.ShowOutput, ("show", "b"), 0),
        (schema.DiffOutput, ("diff", "a", "b"), 0),
        (schema.CpOutput, ("cp", "a", "c"), 0),
        (schema.RmOutput, ("rm", "c", "b"), 0),
        (schema.DuOutput, ("du",), 0),
        (schema.VerifyOutput, ("verify",), 0),
        (schema.GcOutput, ("gc", "--grace", "0"), 0),
        (schema.CheckOutput, ("check", str(folder / "Modelfile")), 0),
        (schema.ErrorOutput, ("show", "missing"), 1),
        (schema.ErrorOutput, ("gc", "--grace", "-1"), 2),
    ]
    for shape, args, exit_code in calls:
        code, out = run_json(*args)
        assert code == exit_code, (args, out)
        shape.model_validate_json(out)
        assert_convention(json.loads(out))
    stray = tmp_path / "home" / "blobs" / f"sha256-{hashlib.sha256(b'x').hexdigest()}"
    stray.write_bytes(b"x")
    code, out = run_json("gc")
    assert schema.GcOutput.model_validate_json(out).kept_blobs[0].size == 1


def assert_convention(value: object, key: str = "") -> None:
    """Byte counts are ints under size/*_size; digests are sha256:…; keys are snake_case."""
    if isinstance(value, dict):
        for name, item in value.items():
            assert name == name.lower() and "-" not in name and " " not in name, name
            assert_convention(item, name)
    elif isinstance(value, list):
        for item in value:
            assert_convention(item, key)
    elif key == "size" or key.endswith("_size"):
        assert isinstance(value, int) and value >= 0
    elif key in ("digest", "id", "actual_digest"):
        assert isinstance(value, str) and value.startswith("sha256:") and len(value) == 71
