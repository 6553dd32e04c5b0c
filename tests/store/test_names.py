"""Model names: Ollama's parsing vectors, lamina's digest and scheme additions, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocitypes.digest import Digest
from store.errors import InvalidName
from store.names import Name, is_valid_namespace

PART80 = "8" * 80
PART350 = "3" * 350
HEX = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "registry.ollama.ai/library/dolphin-mistral:7b-v2.6-dpo-laser-q6_K",
            ("registry.ollama.ai", "library", "dolphin-mistral", "7b-v2.6-dpo-laser-q6_K"),
        ),
        ("https://host:port/namespace/model:tag", ("host:port", "namespace", "model", "tag")),
        ("host/namespace/model:tag", ("host", "namespace", "model", "tag")),
        ("host:port/namespace/model:tag", ("host:port", "namespace", "model", "tag")),
        ("host/namespace/model", ("host", "namespace", "model", "latest")),
        ("host:port/namespace/model", ("host:port", "namespace", "model", "latest")),
        ("namespace/model", ("registry.ollama.ai", "namespace", "model", "latest")),
        ("model", ("registry.ollama.ai", "library", "model", "latest")),
        ("h/nn/mm:t", ("h", "nn", "mm", "t")),
        (f"{PART80}/{PART80}/{PART80}:{PART80}", (PART80, PART80, PART80, PART80)),
        (f"{PART350}/{PART80}/{PART80}:{PART80}", (PART350, PART80, PART80, PART80)),
        ("host:https/namespace/model:tag", ("host:https", "namespace", "model", "tag")),
        ("_why/_the/_lucky:_stiff", ("_why", "_the", "_lucky", "_stiff")),
        ("MyModel:Q4_K_M", ("registry.ollama.ai", "library", "MyModel", "Q4_K_M")),
    ],
)
def test_parse_parts(text: str, parts: tuple[str, str, str, str]) -> None:
    name = Name.parse(text)
    assert (name.host, name.namespace, name.model, name.tag) == parts
    assert name.digest is None


# Fully qualified names from Ollama's table print back exactly as written.
@pytest.mark.parametrize(
    "text",
    [
        "_why/_the/_lucky:_stiff",
        "h/n/m:t",
        "host/namespace/model:tag",
        f"{PART80}/{PART80}/{PART80}:{PART80}",
        f"{PART350}/{PART80}/{PART80}:{PART80}",
        "h/nn/mm:t",
        "host:https/namespace/model:tag",
    ],
)
def test_valid_names_print_as_written(text: str) -> None:
    assert str(Name.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "model is empty"),
        ("n/m:", "tag is empty"),
        ("@t", "digest 't' is not"),
        ("m@d", "digest 'd' is not"),
        ("^", "model must start with a letter, digit or '_', not '^'"),
        ("mm:", "tag is empty"),
        ("/nn/mm", "host is empty"),
        ("//", "host is empty"),
        ("//mm", "host is empty"),
        ("hh//", "namespace is empty"),
        ("//mm:@", "digest '' is not"),
        ("00@", "digest '' is not"),
        ("@", "digest '' is not"),
        ("-hh/nn/mm:tt", "host must start with a letter, digit or '_', not '-'"),
        ("hh/-nn/mm:tt", "namespace must start"),
        ("hh/nn/-mm:tt", "model must start"),
        ("hh/nn/mm:-tt", "tag must start"),
        ("host/name:space/model:tag", "namespace 'name:space' contains ':' at position 4"),
        ("a/b/c/d", "too many '/'"),
        ("ns.x/model", "namespace 'ns.x' contains '.'"),
        ("mo:del/x", "namespace 'mo:del' contains ':'"),
        ("model:ta:g", "model 'model:ta' contains ':'"),
        ("mod el", "model 'mod el' contains ' '"),
        ("..", "model must start with a letter, digit or '_', not '.'"),
        ("m/..", "model must start"),
        ("modèle", "model 'modèle' contains 'è' at position 3"),
        ("\uff4dodel", "model must start with a letter, digit or '_', not '\uff4d'"),
        ("model:tàg", "tag 'tàg' contains 'à'"),
        (f"{PART80}8", "model is 81 characters long, at most 80 are allowed"),
        (f"{PART80}8/model", "namespace is 81 characters long"),
        (f"model:{PART80}8", "tag is 81 characters long"),
        (f"{PART350}3/n/m:t", "host is 351 characters long, at most 350 are allowed"),
        ("ftp://h/n/m", "unsupported scheme 'ftp'"),
        ("https://model", "a name with a scheme must spell host/namespace/model"),
        ("h/n/m:t://", "'://' may only follow a scheme at the start"),
        (f"m@sha256:{HEX[:-1]}", "is not sha256:<64 hex digits>"),
        (f"m@sha512:{HEX}", "is not sha256:<64 hex digits>"),
        (f"m@ sha256:{HEX}", "is not sha256:<64 hex digits>"),
        (f"m@sha256:{HEX}@sha256:{HEX}", "is not sha256:<64 hex digits>"),
    ],
)
def test_invalid_names(text: str, reason: str) -> None:
    with pytest.raises(InvalidName) as caught:
        Name.parse(text)
    assert reason in caught.value.reason
    assert caught.value.name == text
    assert isinstance(caught.value, ValueError)


def test_defaults() -> None:
    assert str(Name.parse("xx")) == "registry.ollama.ai/library/xx:latest"


@pytest.mark.parametrize(
    ("text", "shortest"),
    [
        ("registry.ollama.ai/library/model:latest", "model:latest"),
        ("registry.ollama.ai/library/model:tag", "model:tag"),
        ("registry.ollama.ai/namespace/model:tag", "namespace/model:tag"),
        ("host/namespace/model:tag", "host/namespace/model:tag"),
        ("host/library/model:tag", "host/library/model:tag"),
        ("Registry.Ollama.AI/Library/Model:Tag", "Model:Tag"),
        ("llama3.2", "llama3.2:latest"),
        (f"m:t@sha256:{HEX}", "m:t"),
    ],
)
def test_display_shortest(text: str, shortest: str) -> None:
    assert Name.parse(text).display_shortest() == shortest


def test_display_namespace_model() -> None:
    assert Name.parse("h/me/model:t").display_namespace_model() == "me/model"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"model@sha256:{HEX}", f"registry.ollama.ai/library/model:latest@sha256:{HEX}"),
        (f"h/n/m:t@sha256:{HEX}", f"h/n/m:t@sha256:{HEX}"),
        (f"m@sha256:{HEX.upper()}", f"registry.ollama.ai/library/m:latest@sha256:{HEX}"),
        (f"m@sha256-{HEX}", f"registry.ollama.ai/library/m:latest@sha256:{HEX}"),
        (f"localhost:5000/n/m@sha256:{HEX}", f"localhost:5000/n/m:latest@sha256:{HEX}"),
    ],
)
def test_digest_names(text: str, expected: str) -> None:
    name = Name.parse(text)
    assert name.digest == Digest(HEX)
    assert str(name) == expected
    assert name.without_digest() == Name.parse(expected.split("@")[0])


@pytest.mark.parametrize(
    ("text", "scheme"),
    [
        ("http://localhost:5000/n/m:t", "http"),
        ("HTTP://localhost:5000/n/m:t", "http"),
        ("https://localhost:5000/n/m:t", "https"),
        ("localhost:5000/n/m:t", "https"),
    ],
)
def test_scheme_is_kept_but_not_part_of_identity(text: str, scheme: str) -> None:
    name = Name.parse(text)
    assert name.scheme == scheme
    assert str(name) == "localhost:5000/n/m:t"
    assert name == Name.parse("localhost:5000/n/m:t")


def test_case_insensitive_key() -> None:
    upper = Name.parse("Host/NameSpace/MyModel:Latest")
    lower = Name.parse("host/namespace/mymodel:latest")
    assert upper != lower
    assert (
        upper.casefold_key() == lower.casefold_key() == ("host", "namespace", "mymodel", "latest")
    )
    assert upper.equal_fold(lower)
    assert not upper.equal_fold(Name.parse("host/namespace/mymodel:other"))


def test_from_parts() -> None:
    name = Name.from_parts("localhost:5000", "library", "m", "t")
    assert name == Name.parse("localhost:5000/library/m:t")
    with pytest.raises(InvalidName, match="namespace must start"):
        Name.from_parts("h", ".", "m", "t")
    with pytest.raises(InvalidName, match="tag is empty"):
        Name.from_parts("h", "n", "m", "")


def test_constructor_validates() -> None:
    with pytest.raises(InvalidName, match="model 'a/b' contains '/'"):
        Name("h", "n", "a/b", "t")
    with pytest.raises(InvalidName, match="unsupported scheme"):
        Name("h", "n", "m", "t", scheme="ftp")


def test_with_tag() -> None:
    name = Name.parse(f"http://h/n/m:t@sha256:{HEX}")
    retagged = name.with_tag("v2")
    assert str(retagged) == "h/n/m:v2"
    assert retagged.scheme == "http"


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("", False),
        ("a", True),
        ("a:b", False),
        ("a/b", False),
        ("a/b:c/d@sha256-100", False),
        ("a.b", False),
        ("himynameisjoe", True),
        ("himynameisreallyreallyreallyreallylongbutitshouldstillbevalid", True),
    ],
)
def test_is_valid_namespace(text: str, valid: bool) -> None:
    assert is_valid_namespace(text) is valid


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


def _part(extra: str, max_size: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda first, rest: first + rest,
        st.sampled_from(_ALNUM),
        st.text(alphabet=_ALNUM + extra, max_size=max_size - 1),
    )


@given(
    host=_part("-.:", 350),
    namespace=_part("-", 80),
    model=_part("-.", 80),
    tag=_part("-.", 80),
)
def test_qualified_names_round_trip(host: str, namespace: str, model: str, tag: str) -> None:
    text = f"{host}/{namespace}/{model}:{tag}"
    name = Name.parse(text)
    assert (name.host, name.namespace, name.model, name.tag) == (host, namespace, model, tag)
    assert str(name) == text
    assert Name.parse(name.display_shortest()) == name
    assert Name.from_parts(host, namespace, model, tag) == name


@given(st.text(alphabet=_ALNUM + "-.:/@_ é", max_size=40))
def test_any_text_parses_or_raises_and_is_stable(text: str) -> None:
    try:
        name = Name.parse(text)
    except InvalidName:
        return
    assert Name.parse(str(name)) == name
    assert str(Name.parse(str(name))) == str(name)
    for part in (name.host, name.namespace, name.model, name.tag):
        assert part != ".."
        assert "/" not in part
