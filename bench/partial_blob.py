"""Writing one large blob as a pull does (ranged parts from several threads into a partial blob)
against one sequential ``put_stream``, and against ``openssl dgst -sha256`` of the same bytes.

Each round writes the blob, publishes it (verify, fsync, rename) and deletes it again; the medians,
their ratios, the bytes the partial blob read back to hash, and the peak RSS are printed (memory
must stay flat: parts are 8 MiB, the hasher keeps at most 64 MiB of early parts).

    python bench/partial_blob.py [--size-mib 2048] [--rounds 3] [--threads 4] [--part-mib 8]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ocitypes import Digest
from store.blobs import BlobStore
from store.layout import Layout

MiB = 1024 * 1024


def chunks(base: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, size, len(base)):
        yield base[: min(len(base), size - start)]


def by_parts(blobs: BlobStore, digest: Digest, size: int, base: bytes, threads: int) -> int:
    blob = blobs.partial(digest, size)
    todo = list(range(0, size, len(base)))[::-1]
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not todo:
                    return
                start = todo.pop()
            blob.write_at(start, base[: min(len(base), size - start)])

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    blob.commit()
    return blob.reread


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--part-mib", type=int, default=8)
    args = parser.parse_args()
    size = args.size_mib * MiB
    base = os.urandom(args.part_mib * MiB)
    sha = hashlib.sha256()
    for piece in chunks(base, size):
        sha.update(piece)
    digest = Digest(sha.hexdigest())
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as folder:
        blobs = BlobStore(Layout(Path(folder) / "store"))
        source = Path(folder) / "source.bin"
        with open(source, "wb") as out:
            for piece in chunks(base, size):
                out.write(piece)
            out.flush()
            os.fsync(out.fileno())  # its writeback must not slow the first round
        times: dict[str, list[float]] = {"partial": [], "put_stream": [], "openssl": []}
        openssl = ["openssl", "dgst", "-sha256", str(source)]
        reread = 0
        # Rounds alternate the three, so that all see the same machine load.
        for _ in range(args.rounds):
            start = time.perf_counter()
            reread = max(reread, by_parts(blobs, digest, size, base, args.threads))
            times["partial"].append(time.perf_counter() - start)
            blobs.path(digest).unlink()
            times["put_stream"].append(timed(lambda: blobs.put_stream(chunks(base, size))))
            blobs.path(digest).unlink()
            times["openssl"].append(timed(lambda: subprocess.run(
                openssl, check=True, stdout=subprocess.DEVNULL)))
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    print(f"{args.size_mib} MiB blob, {args.rounds} rounds, {args.threads} threads of "
          f"{args.part_mib} MiB parts, {os.cpu_count()} CPUs")
    for name, median in medians.items():
        print(f"{name:<11}{median:>8.2f} s  {args.size_mib / median:>8.0f} MiB/s  "
              f"x{median / medians['openssl']:.2f} of openssl")
    print(f"partial / put_stream: {medians['partial'] / medians['put_stream']:.2f}")
    print(f"bytes the partial blob read back to hash: {reread}")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB (the blob is {args.size_mib} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
