"""Benchmark: lamina's GGUF header reader against gguf.GGUFReader on the real Gemma 3 270M file.

Run with ``.venv/bin/python bench/gguf_metadata.py``. Exits 1 when lamina's median exceeds
0.3 s. GGUFReader takes tens of seconds per read, so it runs 3 times, interleaved with 5 runs of
lamina's read_info so both see the same page cache.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gguf import GGUFReader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from store.gguf import read_info
from tests.real_gguf import assemble as real_gguf

LAMINA_RUNS, READER_RUNS = 5, 3
LIMIT_SECONDS = 0.3
TARGET_RATIO = 80


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> int:
    path = real_gguf()
    info = read_info(path)
    print(
        f"{path.name}: {info.architecture} {info.file_type_name} {info.model_type}, "
        f"{len(info.tensors)} tensors, header {info.data_offset} of {path.stat().st_size} bytes"
    )
    ours: list[float] = []
    theirs: list[float] = []
    for run in range(max(LAMINA_RUNS, READER_RUNS)):
        if run < LAMINA_RUNS:
            ours.append(timed(lambda: read_info(path)))
        if run < READER_RUNS:
            theirs.append(timed(lambda: GGUFReader(path)))
    lamina, reader = statistics.median(ours), statistics.median(theirs)
    print(
        f"lamina read_info: median {lamina:.3f} s  gguf.GGUFReader: median {reader:.1f} s  "
        f"ratio: {reader / lamina:.0f}x faster (target >= {TARGET_RATIO}x)"
    )
    if lamina > LIMIT_SECONDS:
        print(f"FAIL: lamina's median {lamina:.3f} s exceeds {LIMIT_SECONDS} s")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
