"""lamina's chat templates run by Go's own text/template agree with the test renderer.

Runs only where a Go toolchain is installed (``apt-get install golang-go``); elsewhere the
renderer's agreement rests on ``test_chat.py``'s comparisons with the models' Jinja output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from store import chat
from tests.store.gotemplate import chat as values
from tests.store.gotemplate import message, render

GO = shutil.which("go")
if GO is None and os.environ.get("CI") == "true":
    # make test installs Go (scripts/install-peers.sh); on CI its absence is a failure.
    pytest.fail("the Go toolchain is not installed (apt-get install golang-go)", pytrace=False)
pytestmark = pytest.mark.skipif(GO is None, reason="no Go toolchain (apt-get install golang-go)")

_CALL = {"ID": "", "Function": {"Index": 0, "Name": "get_weather",
                                "Arguments": {"city": "Paris", "days": 2}}}
_TOOL = {"function": {"description": "Weather", "name": "get_weather", "parameters": {
    "properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"}},
    "type": "function"}  # keys sorted: Go writes a decoded map's keys in order
CONVERSATIONS: dict[str, dict[str, Any]] = {
    "system-user-assistant-user": values([message("system", "S"), message("user", "U"),
                                          message("assistant", "A"), message("user", "U2")]),
    "user": values([message("user", "U")]),
    "prefill": values([message("user", "U"), message("assistant", "A")]),
    "tools": values([message("system", "S"), message("user", "U"),
                     message("assistant", "", tool_calls=[_CALL]), message("tool", "18"),
                     message("tool", "19")], tools=[_TOOL]),
    "tools-then-answer": values([message("user", "U"),
                                 message("assistant", "x", tool_calls=[_CALL, _CALL]),
                                 message("tool", "18"), message("assistant", "done"),
                                 message("user", "U3")], tools=[_TOOL]),
    "thinking-off": values([message("user", "U")], think=False, think_set=True),
    "thinking-on": values([message("user", "U"), message("assistant", "A", thinking="hm"),
                           message("user", "U2")], think=True, think_set=True),
}


@pytest.fixture(scope="module")
def gorender(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert GO is not None
    out = tmp_path_factory.mktemp("gorender") / "gorender"
    source = Path(__file__).parent / "gorender"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on",
           "GOCACHE": str(out.parent / "cache"), "GOPATH": str(out.parent / "path")}
    subprocess.run([GO, "build", "-o", str(out), "."], cwd=source, env=env, check=True,
                   capture_output=True, timeout=300)
    return out


@pytest.mark.parametrize("family", [known.name for known, _ in chat.FAMILIES])
def test_go_renders_what_the_test_renderer_renders(gorender: Path, tmp_path: Path,
                                                   family: str) -> None:
    template = tmp_path / "t.gotmpl"
    template.write_text(chat.family(family).template, encoding="utf-8")
    for name, data in CONVERSATIONS.items():
        (tmp_path / "d.json").write_text(json.dumps(data), encoding="utf-8")
        run = subprocess.run([str(gorender), str(template), str(tmp_path / "d.json")],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, (name, run.stderr)
        assert run.stdout == render(chat.family(family).template, data), name
