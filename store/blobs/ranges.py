"""Sets of byte ranges, kept sorted, disjoint and merged: what a partial blob has written."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

Range = tuple[int, int]
"""A half-open byte range ``[start, end)``."""


class RangeSet:
    """Disjoint half-open ranges; adjacent or overlapping ranges merge on :meth:`add`."""

    def __init__(self, ranges: Iterable[Range] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges:
            self.add(start, end)

    def __iter__(self) -> Iterator[Range]:
        return iter(zip(self._starts, self._ends, strict=True))

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __repr__(self) -> str:
        return f"RangeSet({list(self)!r})"

    @property
    def total(self) -> int:
        """How many bytes the ranges cover."""
        return sum(end - start for start, end in self)

    def add(self, start: int, end: int) -> None:
        if start >= end:
            return
        # Every range touching [start, end) merges with it.
        first = bisect.bisect_left(self._ends, start)
        last = bisect.bisect_right(self._starts, end)
        if first < last:
            start = min(start, self._starts[first])
            end = max(end, self._ends[last - 1])
        self._starts[first:last] = [start]
        self._ends[first:last] = [end]

    def subtract(self, start: int, end: int) -> None:
        if start >= end:
            return
        kept = [(s, e) for s, e in self if e <= start or s >= end]
        kept += [(s, start) for s, e in self if s < start < e]
        kept += [(end, e) for s, e in self if s < end < e]
        kept.sort()
        self._starts = [s for s, _ in kept]
        self._ends = [e for _, e in kept]

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_right(self._ends, start)
        return index < len(self._starts) and self._starts[index] < end

    def end_of_run(self, start: int) -> int:
        """Where the run of covered bytes beginning at ``start`` ends (``start`` if none)."""
        index = bisect.bisect_right(self._starts, start) - 1
        if index >= 0 and self._ends[index] > start:
            return self._ends[index]
        return start

    def gaps(self, size: int) -> list[Range]:
        """The ranges of ``[0, size)`` not covered, in order."""
        gaps, cursor = [], 0
        for start, end in self:
            if start > cursor:
                gaps.append((cursor, min(start, size)))
            cursor = max(cursor, end)
        if cursor < size:
            gaps.append((cursor, size))
        return [(s, e) for s, e in gaps if s < e]

    def union(self, other: RangeSet) -> RangeSet:
        return RangeSet([*self, *other])
