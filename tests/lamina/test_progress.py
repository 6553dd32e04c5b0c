"""Hashing shows a progress bar with bytes, rate and ETA on a terminal, and nothing elsewhere."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

import modelfile
import store
from lamina.app import App
from lamina.commands.models import _Reporter
from tests.conftest import MakeGGUF


def create_with(console: Console, tmp_path: Path, make_gguf: MakeGGUF) -> None:
    weights = make_gguf("w.gguf", tensors=(("t", (1024, 1024), "float32"),))
    app = App(home=tmp_path / "home", console=console)
    store.create(app.store(), "m", modelfile.parse("FROM ./w.gguf\n"), base_dir=weights.parent,
                 reporter=_Reporter(app))


def test_progress_bar_on_a_terminal(tmp_path: Path, make_gguf: MakeGGUF) -> None:
    buffer = io.StringIO()
    create_with(Console(file=buffer, force_terminal=True, width=120), tmp_path, make_gguf)
    shown = buffer.getvalue()
    assert "hashing w.gguf" in shown
    assert "4.2 MB" in shown  # bytes done / total
    assert "/s" in shown  # rate


def test_no_progress_bar_when_not_a_terminal(tmp_path: Path, make_gguf: MakeGGUF) -> None:
    buffer = io.StringIO()
    create_with(Console(file=buffer, force_terminal=False), tmp_path, make_gguf)
    assert buffer.getvalue() == ""
