"""Small text helpers for human output: sizes and ages as ``ollama list`` shows them."""

from __future__ import annotations

import time
from collections.abc import Sequence

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def human_bytes(n: int) -> str:
    """Decimal units, three significant figures: ``253 MB``, ``1.9 GB``, ``68 B``."""
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1000 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_age(timestamp: float, now: float | None = None) -> str:
    """``Less than a second ago``, ``5 minutes ago``, ``3 days ago``."""
    seconds = max(0.0, (now if now is not None else time.time()) - timestamp)
    if seconds < 1:
        return "Less than a second ago"
    for size, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400 * 7, "week"),
                       (86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    raise AssertionError("unreachable")


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``1 blob``, ``2 blobs``, ``0 blobs``."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


def value_text(value: object) -> str:
    """A stored parameter value as a Modelfile would spell it: ``true``, ``4096``, ``0.7``,
    ``<|im_end|>``; text that a Modelfile could only hold in quotes is shown in quotes."""
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(value)
    if isinstance(value, list):
        return ", ".join(value_text(item) for item in value) or "(none)"
    text = str(value)
    if "\n" in text or "\r" in text:
        return f'"""{text}"""'
    if not text or text != text.strip() or text.startswith('"'):
        return f'"{text}"'
    return text


def columns(rows: Sequence[tuple[str, ...]], gap: int = 4) -> list[str]:
    """Left-aligned columns, never truncated, whatever the terminal's width (as ``ollama list``
    prints them: ``awk '{print $1}'`` gives the first column)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return [
        "".join(cell.ljust(width + gap) for cell, width in zip(row[:-1], widths, strict=False))
        + row[-1]
        for row in rows
    ]


def human_duration(seconds: float) -> str:
    """``1 hour``, ``90 minutes``, ``45 seconds``, ``2.5 seconds``: the largest exact unit."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            return plural(int(seconds // size), unit)
    return plural(int(seconds), "second") if seconds == int(seconds) else f"{seconds:g} seconds"
