"""Every Modelfile in examples/ checks clean and is already canonical."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelfile

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.Modelfile"))


def test_there_are_at_least_five_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_checks_clean_and_is_canonical(path: Path) -> None:
    parsed = modelfile.parse_file(path)
    assert modelfile.check(parsed) == []
    assert modelfile.format(parsed) == path.read_text(encoding="utf-8")


def test_examples_cover_the_features_users_need() -> None:
    parsed = [modelfile.parse_file(path) for path in EXAMPLES]
    kinds = {i.kind for m in parsed for i in m.instructions}
    assert {modelfile.Kind.ADAPTER, modelfile.Kind.MESSAGE, modelfile.Kind.LICENSE} <= kinds
    templates = [i.value for m in parsed for i in m.of_kind(modelfile.Kind.TEMPLATE)]
    assert any("<|start_header_id|>" in t for t in templates)  # llama3 style
    assert any("<|im_start|>" in t for t in templates)  # ChatML
    systems = [i.value for m in parsed for i in m.of_kind(modelfile.Kind.SYSTEM)]
    assert any("\n" in s for s in systems)
