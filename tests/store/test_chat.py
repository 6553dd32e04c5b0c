"""Choosing a Go template for weights that carry only a Jinja chat template, and what each of
lamina's templates renders: the exact prompt the model's own Jinja template writes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
import pytest

from modelfile.template import template_problem
from store import chat
from store.gguf import read_info
from tests.store.gotemplate import chat as values
from tests.store.gotemplate import message, render

FIXTURES = Path(__file__).parent / "chat_templates"
MakeGGUF = Callable[..., Path]

# fixture file, family lamina picks, the tokenizer's BOS and EOS tokens
CASES = [
    ("OpenHermes-2.5-Mistral-7B", "chatml", "<s>", "<|im_end|>"),
    ("Qwen2.5-7B-Instruct", "qwen2.5", "", "<|im_end|>"),
    ("Qwen3-8B", "qwen3", "", "<|im_end|>"),
    ("Meta-Llama-3-8B-Instruct", "llama3", "<|begin_of_text|>", "<|eot_id|>"),
    ("Llama-3.1-8B-Instruct", "llama3.1", "<|begin_of_text|>", "<|eot_id|>"),
    ("Llama-3.2-3B-Instruct", "llama3.1", "<|begin_of_text|>", "<|eot_id|>"),
    ("gemma-2-2b-it", "gemma", "<bos>", "<eos>"),
    ("gemma-3-4b-it", "gemma3", "<bos>", "<eos>"),
    ("Phi-3.5-mini-instruct", "phi3", "<s>", "<|endoftext|>"),
    ("Mistral-7B-Instruct-v0.3", "mistral", "<s>", "</s>"),
    ("Mistral-Large-Instruct-2411", "mistral-v7", "<s>", "</s>"),
    ("Llama-2-7b-chat-hf", "llama2", "<s>", "</s>"),
    ("DeepSeek-R1-Distill-Qwen-32B", "deepseek-r1", "<｜begin▁of▁sentence｜>",
     "<｜end▁of▁sentence｜>"),
    ("DeepSeek-V3.1", "deepseek-v3", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("c4ai-command-r-plus", "command-r", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
    ("granite-3.0-8b-instruct", "granite3", "", "<|end_of_text|>"),
]

NO_SYSTEM_ROLE = {"gemma-2-2b-it"}
CONVERSATION = [("system", "Be brief."), ("user", "Hi!"), ("assistant", "Hello."),
                ("user", "What is 2+2?")]

# The prompt each family's model expects for CONVERSATION, written out by hand.
EXPECTED = {
    "chatml": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
              "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nWhat is 2+2?"
              "<|im_end|>\n<|im_start|>assistant\n",
    "llama3": "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "llama3.1": "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                "December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "gemma": "<start_of_turn>user\nBe brief.\n\nHi!<end_of_turn>\n<start_of_turn>model\n"
             "Hello.<end_of_turn>\n<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
             "<start_of_turn>model\n",
    "phi3": "<|system|>\nBe brief.<|end|>\n<|user|>\nHi!<|end|>\n<|assistant|>\nHello.<|end|>\n"
            "<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n",
    "mistral": "[INST] Hi![/INST] Hello.</s>[INST] Be brief.\n\nWhat is 2+2?[/INST]",
    "mistral-v7": "[SYSTEM_PROMPT] Be brief.[/SYSTEM_PROMPT][INST] Hi![/INST] Hello.</s>"
                  "[INST] What is 2+2?[/INST]",
    "llama2": "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi! [/INST] Hello. </s><s>[INST] "
              "What is 2+2? [/INST]",
    "deepseek-r1": "Be brief.<｜User｜>Hi!<｜Assistant｜>Hello.<｜end▁of▁sentence｜>"
                   "<｜User｜>What is 2+2?<｜Assistant｜><think>\n",
    "deepseek-v3": "Be brief.<｜User｜>Hi!<｜Assistant｜></think>Hello.<｜end▁of▁sentence｜>"
                   "<｜User｜>What is 2+2?<｜Assistant｜></think>",
    "command-r": "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Be brief.<|END_OF_TURN_TOKEN|>"
                 "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi!<|END_OF_TURN_TOKEN|>"
                 "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hello.<|END_OF_TURN_TOKEN|>"
                 "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>What is 2+2?<|END_OF_TURN_TOKEN|>"
                 "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
    "granite3": "<|start_of_role|>system<|end_of_role|>Be brief.<|end_of_text|>\n"
                "<|start_of_role|>user<|end_of_role|>Hi!<|end_of_text|>\n"
                "<|start_of_role|>assistant<|end_of_role|>Hello.<|end_of_text|>\n"
                "<|start_of_role|>user<|end_of_role|>What is 2+2?<|end_of_text|>\n"
                "<|start_of_role|>assistant<|end_of_role|>",
}
EXPECTED["qwen2.5"] = EXPECTED["qwen3"] = EXPECTED["chatml"]
EXPECTED["gemma3"] = EXPECTED["gemma"]


def _jinja(text: str, messages: list[dict[str, Any]], bos: str, eos: str,
           **extra: Any) -> str:
    """The prompt the model's own template writes, rendered the way transformers does; the
    leading BOS token is left out, as the tokenizer adds it (and so do lamina's templates)."""

    def fail(problem: str) -> None:
        raise jinja2.TemplateError(problem)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = fail
    # transformers' own tojson: keys in the order given, not jinja2's sorted ones
    env.filters["tojson"] = lambda value, indent=None: json.dumps(
        value, ensure_ascii=False, indent=indent)
    env.globals["strftime_now"] = lambda fmt: datetime(2024, 7, 26).strftime(fmt)
    prompt = env.from_string(text).render(messages=messages, bos_token=bos, eos_token=eos,
                                          add_generation_prompt=True, **extra)
    return prompt.removeprefix(bos)


def _fixture(name: str) -> str:
    return (FIXTURES / f"{name}.jinja").read_text(encoding="utf-8")


def _go(name: str, conversation: list[tuple[str, str]], **extra: Any) -> str:
    return render(chat.family(name).template,
                  values([message(role, text) for role, text in conversation], **extra))


@pytest.mark.parametrize(("fixture", "expected", "bos", "eos"), CASES)
def test_gguf_chat_template_picks_the_family(make_gguf: MakeGGUF, fixture: str, expected: str,
                                              bos: str, eos: str) -> None:
    path = make_gguf(f"{fixture}.gguf", chat_template=_fixture(fixture))
    info = read_info(path)
    chosen = chat.choose(info.chat_template, info.architecture)
    assert chosen is not None
    assert (chosen.family.name, chosen.by) == (expected, "chat_template")


@pytest.mark.parametrize(("fixture", "family", "bos", "eos"), CASES)
def test_template_renders_what_the_model_template_writes(fixture: str, family: str, bos: str,
                                                         eos: str) -> None:
    ours = _go(family, CONVERSATION)
    assert ours == EXPECTED[family]
    conversation = CONVERSATION
    if fixture in NO_SYSTEM_ROLE:  # its template refuses one: the system text leads the turn
        (_, system), (_, first), *rest = CONVERSATION
        conversation = [("user", f"{system}\n\n{first}"), *rest]
    theirs = _jinja(_fixture(fixture), [{"role": r, "content": c} for r, c in conversation],
                    bos, eos)
    assert ours == theirs


@pytest.mark.parametrize("family", sorted({name for _, name, _, _ in CASES}))
def test_each_template_passes_the_template_check(family: str) -> None:
    text = chat.family(family).template
    assert template_problem(text) is None
    assert not text.endswith("\n")  # Go would print a last line end after the prompt


@pytest.mark.parametrize("family", ["chatml", "llama3", "gemma", "phi3", "qwen2.5", "command-r",
                                    "granite3", "mistral", "deepseek-r1"])
def test_user_only_conversation(family: str) -> None:
    fixture = next(f for f, name, _, _ in CASES if name == family)
    bos, eos = next((b, e) for f, _, b, e in CASES if f == fixture)
    ours = _go(family, [("user", "Hi!")])
    assert ours == _jinja(_fixture(fixture), [{"role": "user", "content": "Hi!"}], bos, eos)


def test_a_last_assistant_message_is_left_open_for_the_model_to_continue() -> None:
    prompt = _go("chatml", [("user", "Hi!"), ("assistant", "Hel")])
    assert prompt.endswith("<|im_start|>assistant\nHel")


def test_qwen_without_system_gets_its_default_one_and_chatml_none() -> None:
    assert _go("qwen2.5", [("user", "Hi!")]).startswith(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    assert _go("chatml", [("user", "Hi!")]).startswith("<|im_start|>user\n")


def test_qwen3_with_thinking_turned_off_writes_an_empty_think_block() -> None:
    fixture = _fixture("Qwen3-8B")
    messages = [{"role": "user", "content": "Hi!"}]
    theirs = _jinja(fixture, messages, "", "<|im_end|>", enable_thinking=False)
    assert _go("qwen3", [("user", "Hi!")], think=False, think_set=True) == theirs
    assert theirs.endswith("<think>\n\n</think>\n\n")


_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "required": ["city"],
                   "properties": {"city": {"type": "string", "description": "the city"}}}}}
_TOOL_JSON = ('{"type":"function","function":{"name":"get_weather","description":'
              '"Weather of a city","parameters":{"type":"object","required":["city"],'
              '"properties":{"city":{"type":"string","description":"the city"}}}}}')
_CALL = {"ID": "", "Function": {"Index": 0, "Name": "get_weather",
                                "Arguments": {"city": "Paris"}}}


def _tool_conversation() -> list[dict[str, Any]]:
    return [message("system", "Be brief."), message("user", "Weather in Paris?"),
            message("assistant", "", tool_calls=[_CALL]), message("tool", "18 C")]


@pytest.mark.parametrize("family", ["qwen2.5", "qwen3"])
def test_qwen_tools_calls_and_results(family: str) -> None:
    prompt = render(chat.family(family).template, values(_tool_conversation(), tools=[_TOOL]))
    system = "Be brief." if family == "qwen2.5" else "Be brief.\n\n"
    assert prompt == (
        f"<|im_start|>system\n{system}{'' if family == 'qwen3' else chr(10) + chr(10)}"
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        f"{_TOOL_JSON}\n</tools>\n\nFor each function call, return a json object with function "
        "name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        + "<|im_start|>assistant\n"
        + '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris"}}\n</tool_call>'
        "<|im_end|>\n<|im_start|>user\n<tool_response>\n18 C\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_qwen_tools_follow_the_model_template_but_for_json_spacing() -> None:
    """Go's JSON has no blanks after separators; everything else is the model's own text."""
    theirs = _jinja(_fixture("Qwen2.5-7B-Instruct"), [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather",
                                              "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "18 C"},
    ], "", "<|im_end|>", tools=[_TOOL])
    ours = render(chat.family("qwen2.5").template, values(_tool_conversation(), tools=[_TOOL]))
    assert re.sub(r'(?<=[:,])\s', "", theirs) == re.sub(r'(?<=[:,])\s', "", ours)


def test_llama31_tools_go_in_the_first_user_message() -> None:
    prompt = render(chat.family("llama3.1").template,
                    values(_tool_conversation(), tools=[_TOOL]))
    assert prompt.startswith("<|start_header_id|>system<|end_header_id|>\n\nEnvironment: "
                             "ipython\nCutting Knowledge Date: December 2023\n")
    assert ("<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions"
            in prompt)
    assert f"{_TOOL_JSON}\n\nWeather in Paris?<|eot_id|>" in prompt
    assert prompt.endswith(
        '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", '
        '"parameters": {"city":"Paris"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>'
        "\n\n18 C<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


@pytest.mark.parametrize(("fixture", "expected", "bos", "eos"), CASES)
def test_matching_ignores_blanks(fixture: str, expected: str, bos: str, eos: str) -> None:
    text = _fixture(fixture)
    reflowed = re.sub(r"(%}|}})", r"\1\n    ", text).replace("{%", " \t{%")
    assert chat.match(reflowed) == chat.family(expected)


def test_unknown_template_and_no_template() -> None:
    assert chat.choose("{% for m in messages %}### {{ m.content }}{% endfor %}", "llama") is None
    assert chat.choose(None, "llama") is None
    assert chat.choose("  ", "qwen2") is None


def test_architecture_decides_only_when_there_is_no_template() -> None:
    chosen = chat.choose(None, "gemma3")
    assert chosen is not None and (chosen.family.name, chosen.by) == ("gemma3", "architecture")
    assert chat.choose("{{ messages }}", "gemma3") is None  # a template of its own wins


def test_real_gemma_gguf_is_gemma(real_gguf: Path) -> None:
    info = read_info(real_gguf)
    chosen = chat.choose(info.chat_template, info.architecture)
    assert chosen is not None
    assert chosen.family.name == "gemma3"
    assert chosen.family.stop == ("<end_of_turn>",)


def test_stop_words_follow_ollama() -> None:
    assert chat.family("chatml").stop == ("<|im_start|>", "<|im_end|>")
    assert chat.family("llama3").stop == ("<|start_header_id|>", "<|end_header_id|>",
                                          "<|eot_id|>")
    assert chat.family("gemma").stop == ("<start_of_turn>", "<end_of_turn>")
    assert chat.family("phi3").stop == ("<|end|>", "<|system|>", "<|user|>", "<|assistant|>")
