"""Human sizes and ages, as ``lamina list`` shows them."""

from __future__ import annotations

import pytest

from lamina.output import human_age, human_bytes


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (68, "68 B"), (999, "999 B"), (1000, "1.0 KB"), (253_113_024, "253 MB"),
     (1_900_000_000, "1.9 GB"), (4_700_000_000_000, "4.7 TB")],
)  # fmt: skip
def test_human_bytes(size: int, text: str) -> None:
    assert human_bytes(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "Less than a second ago"), (1, "1 second ago"), (59, "59 seconds ago"),
     (60, "1 minute ago"), (7200, "2 hours ago"), (86400 * 3, "3 days ago"),
     (86400 * 14, "2 weeks ago"), (86400 * 400, "1 year ago")],
)  # fmt: skip
def test_human_age(seconds: float, text: str) -> None:
    assert human_age(1_000_000_000 - seconds, now=1_000_000_000) == text
