"""``lamina save``/``load`` of one large model against ``tar`` (and ``tar | zstd -1``) moving
the same files.

Builds a store holding one model whose weights are random bytes of ``--size-mb``, lays the same
blobs out as an OCI layout (hard links) for tar, then alternates each lamina step with its tar
counterpart: save .tar vs ``tar -cf``, load .tar vs ``tar -xf``, save .tar.zst vs
``tar -cf - | zstd -1``, load .tar.zst vs ``zstd -dc | tar -xf``. Prints medians and ratios
(lamina ÷ tar; the aim is ≤ 1.2). lamina's load also hashes every byte, which tar does not;
both sides end with their data on disk (lamina fsyncs, tar is followed by ``sync``).

    .venv/bin/python bench/bundle_vs_tar.py [--size-mb 2048] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import store  # noqa: E402
from ocitypes import Descriptor, Manifest, mediatypes  # noqa: E402
from store import bundle  # noqa: E402

MiB = 1024 * 1024


def build(root: Path, size: int) -> store.Store:
    the_store = store.Store(root)
    chunk = os.urandom(64 * MiB)
    chunks = (chunk[: min(len(chunk), size - i)] for i in range(0, size, len(chunk)))
    weights = the_store.blobs.put_stream(chunks)
    config = the_store.blobs.put_bytes(b'{"model_format":"gguf"}\n')
    manifest = Manifest(Descriptor(mediatypes.CONFIG, config.digest, config.size),
                        (Descriptor(mediatypes.MODEL, weights.digest, weights.size),))
    the_store.write_manifest(store.Name.parse("big"), manifest)
    return the_store


def layout_for_tar(the_store: store.Store, folder: Path) -> None:
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for digest in the_store.blobs.digests():
        os.link(the_store.blobs.path(digest), blobs / digest.hex)
    (folder / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}\n')


def timed(step: Callable[[], object], before: Callable[[], object] | None = None) -> float:
    if before is not None:
        before()
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def sh(command: str) -> Callable[[], object]:
    # lamina fsyncs what it writes before it reports success; tar's side is made durable too
    # (sync), or it would be timed against the page cache.
    return lambda: subprocess.run(f"{command} && sync", shell=True, check=True)


def fresh(path: Path) -> Callable[[], None]:
    def reset() -> None:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    return reset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2048, help="weights size in MiB")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each contender")
    parser.add_argument("--dir", type=Path, default=REPO / ".bench-tmp", help="scratch folder")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bundle-", dir=args.dir))
    try:
        run(work, args.size_mb * MiB, args.rounds)
    finally:
        shutil.rmtree(work)
        if not any(args.dir.iterdir()):
            args.dir.rmdir()


def run(work: Path, size: int, rounds: int) -> None:
    source = build(work / "src", size)
    layout_for_tar(source, work / "layout")
    target = work / "dst"
    out = work / "out"
    out.mkdir()
    pairs: list[tuple[str, Callable[[], float], Callable[[], float]]] = [
        ("save .tar",
         lambda: timed(lambda: bundle.save(source, ["big"], out / "l.tar")),
         lambda: timed(sh(f"tar -cf {out}/t.tar -C {work}/layout oci-layout blobs"))),
        ("load .tar",
         lambda: timed(lambda: bundle.load(store.Store(target), out / "l.tar"), fresh(target)),
         lambda: timed(sh(f"tar -xf {out}/t.tar -C {target}"), fresh(target))),
        ("save .tar.zst",
         lambda: timed(lambda: bundle.save(source, ["big"], out / "l.tar.zst")),
         lambda: timed(sh(f"tar -cf - -C {work}/layout oci-layout blobs | zstd -q -1 -f -o "
                          f"{out}/t.tar.zst"))),
        ("load .tar.zst",
         lambda: timed(lambda: bundle.load(store.Store(target), out / "l.tar.zst"),
                       fresh(target)),
         lambda: timed(sh(f"zstd -q -dc {out}/t.tar.zst | tar -xf - -C {target}"),
                       fresh(target))),
    ]
    print(f"one model of {size // MiB} MiB of random weights, {rounds} alternating rounds")
    print(f"{'step':<16}{'lamina s':>10}{'tar s':>10}{'ratio':>8}")
    for label, ours, theirs in pairs:
        mine: list[float] = []
        tars: list[float] = []
        for _ in range(rounds):
            mine.append(ours())
            tars.append(theirs())
        a, b = statistics.median(mine), statistics.median(tars)
        print(f"{label:<16}{a:>10.3f}{b:>10.3f}{a / b:>8.2f}")


if __name__ == "__main__":
    main()
