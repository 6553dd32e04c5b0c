"""``lamina create`` prints create's warnings, and refuses bad names and paths with exit 1."""

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


def write(folder: Path, text: str) -> Path:
    path = folder / "Modelfile"
    path.write_text(text)
    return path


def test_warnings_are_printed_once_from_the_result(home: Path, tiny_gguf: Path) -> None:
    path = write(tiny_gguf.parent, "FROM ./tiny.gguf\nPARAMETER mirostat 1\n")
    code, out, err = run("create", "m", "-f", str(path))
    assert code == 0, err
    assert err.count("warning: parameter mirostat is deprecated") == 1
    assert f"{path}:2:1: warning" in err
    assert out.startswith("created m:latest")


def test_creates_own_warnings_are_printed(home: Path, make_gguf: object) -> None:
    chat = make_gguf("chat.gguf", chat_template="{{ messages }}")  # type: ignore[operator]
    code, _, err = run("create", "m", "-f", str(write(chat.parent, "FROM ./chat.gguf\n")))
    assert code == 0
    assert "Modelfile:1:1: warning: chat.gguf carries a chat template lamina does not " \
           "recognise" in err


def test_a_name_with_a_digest_is_refused(home: Path, tiny_gguf: Path) -> None:
    path = write(tiny_gguf.parent, "FROM ./tiny.gguf\n")
    code, out, err = run("create", f"y@sha256:{'ab' * 32}", "-f", str(path))
    assert (code, out) == (1, "")
    assert "names a digest" in err and "Traceback" not in err
    assert run("list")[1].count("\n") <= 1  # nothing was created


@pytest.mark.parametrize("where", ["from", "file", "name"])
def test_over_long_names_end_in_a_clear_error(home: Path, tiny_gguf: Path, where: str) -> None:
    long = "a" * 300
    path = write(tiny_gguf.parent, f"FROM ./{long}.gguf\n" if where == "from"
                 else "FROM ./tiny.gguf\n")
    file = str(tiny_gguf.parent / long) if where == "file" else str(path)
    name = f"{'h' * 300}/ns/m" if where == "name" else "m"
    code, out, err = run("create", name, "-f", file)
    assert (code, out) == (1, "")
    assert err.startswith("Error: ") and ("too long" in err or "255 bytes" in err)


def test_an_adapter_alone_is_refused(home: Path, make_gguf: object) -> None:
    lora = make_gguf("lora.gguf", general_type="adapter")  # type: ignore[operator]
    code, _, err = run("create", "m", "-f", str(write(lora.parent, "FROM ./lora.gguf\n")))
    assert code == 1
    assert "lora.gguf is a LoRA adapter, not a model" in err


def test_create_says_which_template_it_chose(home: Path, make_gguf: object) -> None:
    jinja = (Path(__file__).parents[1] / "store" / "chat_templates"
             / "Meta-Llama-3-8B-Instruct.jinja").read_text(encoding="utf-8")
    weights = make_gguf("l3.gguf", chat_template=jinja)  # type: ignore[operator]
    path = write(weights.parent, "FROM ./l3.gguf\n")
    code, out, err = run("create", "m", "-f", str(path))
    assert code == 0, err
    assert "template: llama3 (Llama 3), chosen by the weights' chat template" in out
    assert "using autodetected template llama3" in err
    code, out, err = run("create", "m", "-f", str(path), "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["template"] == {
        "name": "llama3", "title": "Llama 3", "chosen_by": "chat_template",
        "stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}
    assert document["warnings"] == []


def test_create_json_carries_the_warnings(home: Path, make_gguf: object) -> None:
    weights = make_gguf("odd.gguf", chat_template="{{ messages }}")  # type: ignore[operator]
    path = write(weights.parent, "FROM ./odd.gguf\nPARAMETER mirostat 1\n")
    code, out, _ = run("create", "m", "-f", str(path), "--json")
    assert code == 0
    document = json.loads(out)
    assert document["template"] is None
    # the Modelfile's own warnings first, then what create found in the weights
    assert [(w["line"], w["severity"]) for w in document["warnings"]] == [
        (2, "warning"), (1, "warning")]
    assert "does not recognise" in document["warnings"][1]["message"]


def test_check_warns_about_an_unknown_chat_template(home: Path, make_gguf: object) -> None:
    weights = make_gguf("odd.gguf", chat_template="{{ messages }}")  # type: ignore[operator]
    path = write(weights.parent, "FROM ./odd.gguf\n")
    code, out, _ = run("check", str(path))
    assert code == 0
    assert f"{path}:1:1: warning: odd.gguf carries a chat template lamina does not " \
           "recognise" in out
    assert "add a TEMPLATE line" in out
    code, out, _ = run("check", "--json", str(path))
    assert json.loads(out)["warnings"] == 1
