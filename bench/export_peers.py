"""``lamina export`` into Ollama's and LM Studio's folders: time per model and bytes added.

Creates a store from the real Gemma 3 270M GGUF (253 MB; tests/real_gguf.py) with a SYSTEM,
a TEMPLATE and parameters, then exports it to a fresh Ollama folder and a fresh LM Studio home
on the same file system, removing each export between rounds. Prints the median wall time of
one export (the aim: ≤ 50 ms) and the bytes the exported weights add to the disk (the aim: 0,
the weights being hard links; the manifest and model.yaml are a few hundred bytes).

    .venv/bin/python bench/export_peers.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import modelfile  # noqa: E402
import store  # noqa: E402
from store.export import lmstudio, ollama  # noqa: E402
from tests import real_gguf  # noqa: E402

MODELFILE = """FROM ./model.gguf
TEMPLATE "{{ .Prompt }}"
SYSTEM "You are concise."
PARAMETER temperature 0.7
PARAMETER top_p 0.9
PARAMETER stop <end_of_turn>
PARAMETER num_ctx 8192
"""


def added_bytes(result: store.export.ExportResult, the_store: store.Store) -> tuple[int, int]:
    """(bytes of weights/blobs that are not the store's own inodes, bytes of small files)."""
    weights = small = 0
    for placed in result.files:
        st = os.stat(placed.path)
        if placed.role in ("manifest", "model.yaml"):
            small += st.st_blocks * 512
            continue
        shared = any(os.path.samefile(placed.path, the_store.blobs.path(d))
                     for d in the_store.blobs.digests())
        weights += 0 if shared else st.st_blocks * 512
    return weights, small


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="exports of each kind")
    parser.add_argument("--dir", type=Path, default=REPO / ".bench-tmp", help="scratch folder")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="export-", dir=args.dir))
    try:
        shutil.copyfile(real_gguf.assemble(), work / "model.gguf")
        the_store = store.Store(work / "home")
        store.create(the_store, "gemma3-chat", modelfile.parse(MODELFILE), base_dir=work)
        targets = (("ollama", ollama, work / "ollama"), ("lmstudio", lmstudio, work / "lms"))
        times: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        sizes: dict[str, tuple[int, int]] = {}
        for _ in range(args.rounds):
            for name, module, root in targets:  # alternating, each into an empty folder
                start = time.perf_counter()
                result = module.export(the_store, "gemma3-chat", root)
                times[name].append(time.perf_counter() - start)
                sizes[name] = added_bytes(result, the_store)
                module.remove(the_store, "gemma3-chat", root)
        print(f"export of one 253 MB model, {args.rounds} rounds, median")
        for name, _, _ in targets:
            median = statistics.median(times[name]) * 1000
            weights, small = sizes[name]
            print(f"{name:<10}{median:8.1f} ms (limit 50: {median / 50:.2f} of it)   "
                  f"weights added {weights} B, manifest/model.yaml {small} B")
    finally:
        for path in work.rglob("*"):
            if path.is_file() and not path.is_symlink():
                path.chmod(0o644)
        shutil.rmtree(work)
        if not any(args.dir.iterdir()):
            args.dir.rmdir()


if __name__ == "__main__":
    main()
