"""Small text helpers for human output: sizes and ages as ``ollama list`` shows them."""

from __future__ import annotations

import time

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
