"""The config blob: Ollama's golden digest, struct field order, omitempty, tolerant reading."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.config import Draft, ModelConfig
from store.errors import StoreError

GOLDEN = (
    b'{"model_format":"gguf","model_family":"test","model_families":["test"],'
    b'"model_type":"0","file_type":"unknown","architecture":"amd64","os":"linux"}\n'
)


def test_golden_config_from_ollama_create_tests() -> None:
    config = ModelConfig(
        model_family="test", model_families=("test",), model_type="0", file_type="unknown"
    )
    data = config.encode()
    assert data == GOLDEN
    assert len(data) == 147
    assert (
        hashlib.sha256(data).hexdigest()
        == "99759ad5b91e723db0393d698ffbb448b1b7df5ff6377a108c49254583b1bc8c"
    )


def test_every_field_in_struct_order() -> None:
    config = ModelConfig(
        model_format="safetensors",
        model_family="gemma4",
        model_families=("gemma4", "clip"),
        model_type="8.0B",
        file_type="Q4_K_M",
        renderer="gemma4",
        parser="gemma4",
        requires="0.12.0",
        remote_host="https://ollama.com:443",
        remote_model="gpt-oss:120b",
        capabilities=("completion", "tools"),
        context_length=131072,
        embedding_length=2880,
        base_name="gpt-oss",
        draft=Draft(model_format="gguf", architecture="llama", tensor_prefix="mtp.", config="c"),
    )
    expected = (
        '{"model_format":"safetensors","model_family":"gemma4","model_families":["gemma4","clip"],'
        '"model_type":"8.0B","file_type":"Q4_K_M","renderer":"gemma4","parser":"gemma4",'
        '"requires":"0.12.0","remote_host":"https://ollama.com:443","remote_model":"gpt-oss:120b",'
        '"capabilities":["completion","tools"],"context_length":131072,"embedding_length":2880,'
        '"base_name":"gpt-oss","draft":{"model_format":"gguf","architecture":"llama",'
        '"tensor_prefix":"mtp.","config":"c"},"architecture":"amd64","os":"linux"}\n'
    )
    assert config.encode() == expected.encode()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            ModelConfig(),
            '{"model_format":"gguf","model_family":"","model_families":null,"model_type":"",'
            '"file_type":"","architecture":"amd64","os":"linux"}\n',
        ),
        (
            ModelConfig(model_families=()),
            '{"model_format":"gguf","model_family":"","model_families":[],"model_type":"",'
            '"file_type":"","architecture":"amd64","os":"linux"}\n',
        ),
        (
            ModelConfig(draft=Draft()),
            '{"model_format":"gguf","model_family":"","model_families":null,"model_type":"",'
            '"file_type":"","draft":{},"architecture":"amd64","os":"linux"}\n',
        ),
        (
            ModelConfig(model_format="", architecture="", os=""),
            '{"model_format":"","model_family":"","model_families":null,"model_type":"",'
            '"file_type":"","architecture":"","os":""}\n',
        ),
        (
            ModelConfig(parser="a<b", context_length=4096),
            '{"model_format":"gguf","model_family":"","model_families":null,"model_type":"",'
            '"file_type":"","parser":"a\\u003cb","context_length":4096,"architecture":"amd64",'
            '"os":"linux"}\n',
        ),
    ],
)
def test_omitempty_and_null(config: ModelConfig, expected: str) -> None:
    assert config.encode() == expected.encode()


def test_lists_become_tuples() -> None:
    config = ModelConfig(model_families=["a"], capabilities=["tools"])  # type: ignore[arg-type]
    assert config.model_families == ("a",)
    assert config.capabilities == ("tools",)
    assert hash(config) == hash(ModelConfig(model_families=("a",), capabilities=("tools",)))


def test_parse_golden() -> None:
    assert ModelConfig.parse(GOLDEN) == ModelConfig(
        model_family="test", model_families=("test",), model_type="0", file_type="unknown"
    )


def test_parse_old_config_with_rootfs() -> None:
    digest = "sha256:" + "ab" * 32
    data = json.dumps(
        {
            "model_format": "gguf",
            "model_family": "llama",
            "model_families": ["llama"],
            "model_type": "3.2B",
            "file_type": "Q4_K_M",
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest, digest]},
            "some_future_field": [1, 2, 3],
        }
    ).encode()
    config = ModelConfig.parse(data)
    assert config == ModelConfig(
        model_family="llama", model_families=("llama",), model_type="3.2B", file_type="Q4_K_M"
    )
    assert b"rootfs" not in config.encode()


def test_parse_missing_fields_take_go_zero_values() -> None:
    config = ModelConfig.parse(b'{"model_family":"x","capabilities":null,"draft":null}')
    assert config == ModelConfig(model_format="", model_family="x", architecture="", os="")


def test_parse_draft() -> None:
    config = ModelConfig.parse(b'{"draft":{"tensor_prefix":"mtp.","unknown":1}}')
    assert config.draft == Draft(tensor_prefix="mtp.")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"\xff{}", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"model_type":7}', "model_type is not a string"),
        (b'{"context_length":"4096"}', "context_length is not an integer"),
        (b'{"context_length":4096.0}', "context_length is not an integer"),
        (b'{"context_length":true}', "context_length is not an integer"),
        (b'{"context_length":NaN}', "not valid JSON"),
        (b'{"model_families":"llama"}', "model_families is not a list of strings"),
        (b'{"capabilities":[1]}', "capabilities is not a list of strings"),
        (b'{"draft":[]}', "draft is not a JSON object"),
        (b'{"draft":{"config":1}}', "draft.config is not a string"),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        ModelConfig.parse(data)


_text = st.text(max_size=12)
_strings = st.lists(st.text(max_size=8), max_size=3).map(tuple)


@given(
    st.builds(
        ModelConfig,
        model_format=_text,
        model_family=_text,
        model_families=st.none() | _strings,
        model_type=_text,
        file_type=_text,
        renderer=_text,
        parser=_text,
        requires=_text,
        remote_host=_text,
        remote_model=_text,
        capabilities=_strings,
        context_length=st.integers(min_value=-(2**63), max_value=2**63 - 1),
        embedding_length=st.integers(min_value=0, max_value=2**31),
        base_name=_text,
        draft=st.none() | st.builds(Draft, _text, _text, _text, _text),
        architecture=_text,
        os=_text,
    )
)
def test_parse_encode_round_trip(config: ModelConfig) -> None:
    data = config.encode()
    assert ModelConfig.parse(data) == config
    assert json.loads(data)["os"] == config.os
    assert ModelConfig.parse(data).encode() == data
