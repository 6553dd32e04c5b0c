"""Parse (and format) a 1 MB Modelfile and print the times. A script, not a timed test."""

from __future__ import annotations

import statistics
import time

import modelfile

BLOCK = (
    "# a comment line\n"
    "PARAMETER stop <|eot_id|>\n"
    "PARAMETER temperature 0.7\n"
    'MESSAGE user "What is the capital of France?"\n'
    'MESSAGE assistant """Paris.\nIt has been the capital since 987."""\n'
    'SYSTEM """You are a helpful assistant.\nAnswer briefly."""\n'
    "\n"
)


def build(size: int) -> str:
    head = "FROM llama3.1:8b\n"
    return head + BLOCK * ((size - len(head)) // len(BLOCK) + 1)


def main() -> None:
    text = build(1_000_000)
    parse_times, format_times = [], []
    for _ in range(5):
        start = time.perf_counter()
        parsed = modelfile.parse(text)
        parse_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        modelfile.format(parsed)
        format_times.append(time.perf_counter() - start)
    size_mb = len(text.encode()) / 1e6
    print(f"Modelfile: {size_mb:.2f} MB, {len(parsed.instructions)} instructions")
    print(f"parse:  median {statistics.median(parse_times):.3f} s over 5 runs")
    print(f"format: median {statistics.median(format_times):.3f} s over 5 runs")


if __name__ == "__main__":
    main()
