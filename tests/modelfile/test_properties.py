"""Properties over generated input: lossless round trip, idempotent format, no stray exceptions."""

from __future__ import annotations

import contextlib

from hypothesis import example, given, settings
from hypothesis import strategies as st

import modelfile

_VALUE_CHARS = st.sampled_from([*list('ab "#\t\n\r\\:<|>é\u200d'), '"""'])
_values = st.lists(_VALUE_CHARS, max_size=12).map("".join)
_keywords = st.sampled_from(
    ["FROM", "from", "SYSTEM", "Template", "LICENSE", "adapter", "REQUIRES", "draft", "RENDERER"]
)


@st.composite
def _lines(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["simple", "parameter", "message", "comment", "blank"]))
    value = draw(_values)
    quote = draw(st.sampled_from(["", '"', '"""']))
    quoted = f"{quote}{value}{quote}"
    blank = draw(st.sampled_from([" ", "\t"]))
    if shape == "simple":
        return f"{draw(_keywords)}{blank}{quoted}"
    if shape == "parameter":
        name = draw(st.sampled_from(["stop", "temperature", "top_k", "Custom_1"]))
        return f"PARAMETER{blank}{name}{blank}{quoted}"
    if shape == "message":
        return f"MESSAGE {draw(st.sampled_from(['user', 'assistant', 'system']))} {quoted}"
    if shape == "comment":
        indent = draw(st.sampled_from(["", "  "]))
        return f"{indent}#{value.replace(chr(10), '').replace(chr(13), '')}"
    return draw(st.sampled_from(["", "  ", "\t"]))


_modelfiles = st.builds(
    lambda lines, ending: ending.join(["FROM base", *lines]) + ending,
    st.lists(_lines(), max_size=8),
    st.sampled_from(["\n", "\r\n"]),
)


@settings(max_examples=400, deadline=None)
@given(_modelfiles)
@example('FROM base\nSYSTEM """a\n"""\n')
@example('FROM base\nSYSTEM "" x"\n')
def test_round_trip_and_idempotence(text: str) -> None:
    try:
        parsed = modelfile.parse(text)
    except modelfile.ModelfileSyntaxError:
        return
    formatted = modelfile.format(parsed)
    assert modelfile.parse(formatted) == parsed
    assert modelfile.format(modelfile.parse(formatted)) == formatted


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | _modelfiles)
def test_arbitrary_text_raises_only_modelfile_errors(text: str) -> None:
    try:
        parsed = modelfile.parse(text)
    except modelfile.ModelfileError:
        return
    modelfile.check(parsed)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60))
def test_arbitrary_bytes_raise_only_modelfile_errors(data: bytes) -> None:
    with contextlib.suppress(modelfile.ModelfileError):
        modelfile.parse(data)
