"""create gives weights that carry only a Jinja chat template a Go TEMPLATE of their family."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelfile
import store
from ocitypes import mediatypes
from store import chat
from tests.conftest import MakeGGUF

FIXTURES = Path(__file__).parent / "chat_templates"


@pytest.fixture
def lamina(tmp_path: Path) -> store.Store:
    return store.Store(tmp_path / "home")


def build(lamina: store.Store, name: str, text: str, base: Path) -> store.CreateResult:
    return store.create(lamina, name, modelfile.parse(text), base_dir=base)


def layer_of(lamina: store.Store, result: store.CreateResult, media_type: str) -> str | None:
    found = [layer for layer in result.manifest.layers if layer.media_type == media_type]
    assert len(found) <= 1
    return lamina.blobs.path(found[0].digest).read_text() if found else None


def qwen(make_gguf: MakeGGUF) -> Path:
    jinja = (FIXTURES / "Qwen2.5-7B-Instruct.jinja").read_text(encoding="utf-8")
    return make_gguf("qwen.gguf", arch="qwen2", chat_template=jinja)


def test_jinja_only_weights_get_their_familys_template_and_stops(
        lamina: store.Store, make_gguf: MakeGGUF) -> None:
    weights = qwen(make_gguf)
    result = build(lamina, "q", "FROM ./qwen.gguf\n", weights.parent)
    assert result.template is not None
    assert (result.template.family.name, result.template.by) == ("qwen2.5", "chat_template")
    kinds = [layer.media_type for layer in result.manifest.layers]
    assert kinds == [mediatypes.MODEL, mediatypes.TEMPLATE, mediatypes.PARAMS]
    assert layer_of(lamina, result, mediatypes.TEMPLATE) == chat.family("qwen2.5").template
    params = json.loads(layer_of(lamina, result, mediatypes.PARAMS) or "")
    assert params == {"stop": ["<|im_start|>", "<|im_end|>"]}
    assert result.warnings == ()


def test_modelfile_parameters_win_over_the_familys(lamina: store.Store,
                                                   make_gguf: MakeGGUF) -> None:
    weights = qwen(make_gguf)
    text = "FROM ./qwen.gguf\nPARAMETER stop <|endoftext|>\nPARAMETER temperature 0.5\n"
    result = build(lamina, "q", text, weights.parent)
    params = json.loads(layer_of(lamina, result, mediatypes.PARAMS) or "")
    assert params == {"stop": ["<|endoftext|>"], "temperature": 0.5}


def test_a_template_line_means_no_choice(lamina: store.Store, make_gguf: MakeGGUF) -> None:
    weights = qwen(make_gguf)
    result = build(lamina, "q", "FROM ./qwen.gguf\nTEMPLATE {{ .Prompt }}\n", weights.parent)
    assert result.template is None
    assert layer_of(lamina, result, mediatypes.TEMPLATE) == "{{ .Prompt }}"
    assert layer_of(lamina, result, mediatypes.PARAMS) is None


def test_a_parent_without_template_gets_one_and_one_with_keeps_its_own(
        lamina: store.Store, make_gguf: MakeGGUF) -> None:
    weights = qwen(make_gguf)
    build(lamina, "bare", "FROM ./qwen.gguf\nTEMPLATE {{ .Prompt }}\n", weights.parent)
    child = build(lamina, "child", "FROM bare\n", weights.parent)
    assert child.template is None  # the parent's template stays
    assert layer_of(lamina, child, mediatypes.TEMPLATE) == "{{ .Prompt }}"
    # a parent stored without any template layer (as another tool may have left it)
    parent = lamina.manifest(lamina.resolve("bare"))
    kept = tuple(layer for layer in parent.layers if layer.media_type == mediatypes.MODEL)
    lamina.replace_manifest(lamina.resolve("bare"), store.Manifest(parent.config, kept))
    orphan = build(lamina, "orphan", "FROM bare\n", weights.parent)
    assert orphan.template is not None and orphan.template.family.name == "qwen2.5"
    assert layer_of(lamina, orphan, mediatypes.TEMPLATE) == chat.family("qwen2.5").template


def test_unknown_jinja_warns_and_adds_nothing(lamina: store.Store, make_gguf: MakeGGUF) -> None:
    weights = make_gguf("odd.gguf", chat_template="{% for m in messages %}>> {{ m.content }}"
                                                  "{% endfor %}")
    result = build(lamina, "o", "FROM ./odd.gguf\n", weights.parent)
    assert result.template is None
    assert [layer.media_type for layer in result.manifest.layers] == [mediatypes.MODEL]
    (warning,) = result.warnings
    assert warning.line == 1
    assert "odd.gguf carries a chat template lamina does not recognise" in warning.message
    assert warning.hint is not None and "TEMPLATE" in warning.hint


def test_no_template_and_an_architecture_without_one_format(lamina: store.Store,
                                                            make_gguf: MakeGGUF) -> None:
    weights = make_gguf("plain.gguf", arch="llama")
    result = build(lamina, "p", "FROM ./plain.gguf\n", weights.parent)
    assert (result.template, result.warnings) == (None, ())


def test_real_gemma_gets_the_gemma3_template(lamina: store.Store, real_gguf: Path) -> None:
    result = build(lamina, "g", f"FROM {real_gguf}\n", real_gguf.parent)
    assert result.template is not None
    assert (result.template.family.name, result.template.by) == ("gemma3", "architecture")
    assert layer_of(lamina, result, mediatypes.TEMPLATE) == chat.family("gemma3").template
    params = json.loads(layer_of(lamina, result, mediatypes.PARAMS) or "")
    assert params == {"stop": ["<end_of_turn>"]}


def test_template_warnings_for_check(make_gguf: MakeGGUF) -> None:
    odd = make_gguf("odd.gguf", chat_template="{{ messages }}")
    qwen(make_gguf)

    def warnings(text: str) -> list[str]:
        found = store.template_warnings(modelfile.parse(text), base_dir=odd.parent)
        return [w.message for w in found]

    assert warnings("FROM ./odd.gguf\n") == [
        "odd.gguf carries a chat template lamina does not recognise, so the model gets no "
        "TEMPLATE and is sent the bare prompt"]
    assert warnings("FROM ./odd.gguf\nTEMPLATE {{ .Prompt }}\n") == []
    assert warnings("FROM ./qwen.gguf\n") == []
    assert warnings("FROM ./missing.gguf\n") == []  # create reports what cannot be read
    assert warnings("FROM llama3\n") == []
