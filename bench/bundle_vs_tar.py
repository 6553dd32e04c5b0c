"""``lamina save``/``lamina load`` of one large model against ``tar`` (and ``tar`` + ``zstd -1``)
moving the same files, plain and compressed, in one alternating run.

Builds a store holding one model whose weights are random bytes of ``--size-mb``, lays the
same blobs out as an OCI layout (hard links) for tar, then runs, round after round, each
lamina command right before its tar counterpart:

    save .tar       lamina save -o l.tar              tar -cf t.tar
    load .tar       lamina load l.tar                 tar -xf t.tar
    save .tar.zst   lamina save -o l.tar.zst          tar -cf - | zstd -1
    load .tar.zst   lamina load l.tar.zst             zstd -dc | tar -xf -

Both sides run as commands (lamina's times include its start-up) and end with their data on
disk: lamina fsyncs before it reports success, tar is followed by ``sync``. lamina's load
also hashes every byte and publishes nothing until all of it checks out, which tar does not.
Prints the median seconds of each side and their ratio (lamina ÷ tar; the aim is ≤ 1.2), the
median CPU seconds (user + system) and their ratio, the peak resident memory of each side,
and the load average before and after (a busy box makes every wall-clock figure noisy).

    .venv/bin/python bench/bundle_vs_tar.py [--size-mb 2048] [--rounds 5]
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
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import store  # noqa: E402
from ocitypes import Descriptor, Manifest, mediatypes  # noqa: E402

MiB = 1024 * 1024
LAMINA = [str(Path(sys.executable).with_name("lamina"))]


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


@dataclass
class Side:
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """User plus system seconds of all its processes: what a busy box cannot blur."""
    peak_rss: int = 0
    """Bytes, the most any one of its processes held."""

    def run(self, command: str, before: Callable[[], None] | None, rss: Path) -> None:
        if before is not None:
            before()
        os.sync()  # what earlier steps left dirty is not this step's to flush
        # GNU time reports the peak of the shell and every process it waited for, in KiB
        # (a child's own rusage would count the memory of this process it was forked from).
        timed = ["/usr/bin/time", "-f", "%M %U %S", "-o", str(rss), "sh", "-c", command]
        start = time.perf_counter()
        subprocess.run(timed, check=True, stdout=subprocess.DEVNULL)
        self.seconds.append(time.perf_counter() - start)
        kib, user, system = rss.read_text().split()[-3:]
        self.peak_rss = max(self.peak_rss, int(kib) * 1024)
        self.cpu.append(float(user) + float(system))


def fresh(path: Path) -> Callable[[], None]:
    def reset() -> None:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    return reset


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2048, help="weights size in MiB")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
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


def steps(work: Path) -> list[tuple[str, str, str, Callable[[], None] | None]]:
    src, dst, out, layout = work / "src", work / "dst", work / "out", work / "layout"
    lamina = " ".join(LAMINA)
    reset = fresh(dst)
    return [
        ("save .tar", f"{lamina} --home {src} save big -o {out}/l.tar -q",
         f"tar -cf {out}/t.tar -C {layout} oci-layout blobs && sync", None),
        ("load .tar", f"{lamina} --home {dst} load {out}/l.tar -q",
         f"tar -xf {out}/t.tar -C {dst} && sync", reset),
        ("save .tar.zst", f"{lamina} --home {src} save big -o {out}/l.tar.zst -q",
         f"tar -cf - -C {layout} oci-layout blobs | zstd -q -1 -f -o {out}/t.tar.zst && sync",
         None),
        ("load .tar.zst", f"{lamina} --home {dst} load {out}/l.tar.zst -q",
         f"zstd -q -dc {out}/t.tar.zst | tar -xf - -C {dst} && sync", reset),
    ]


def run(work: Path, size: int, rounds: int) -> None:
    build(work / "src", size)
    layout_for_tar(store.Store(work / "src"), work / "layout")
    (work / "out").mkdir()
    plan = steps(work)
    sides = {label: (Side(), Side()) for label, *_ in plan}
    load_before = os.getloadavg()
    for _ in range(rounds):
        for label, ours, theirs, before in plan:
            mine, tar = sides[label]
            mine.run(ours, before, work / "rss")
            tar.run(theirs, before, work / "rss")
    load_after = os.getloadavg()
    print(f"one model of {size // MiB} MiB of random weights, {rounds} alternating rounds, "
          f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after")
    print(f"{'step':<15}{'lamina s':>10}{'tar s':>8}{'ratio':>7}"
          f"{'lamina CPU s':>14}{'tar CPU s':>11}{'ratio':>7}{'lamina RSS':>12}{'tar RSS':>9}")
    for label, (mine, tar) in sides.items():
        a, b = statistics.median(mine.seconds), statistics.median(tar.seconds)
        c, d = statistics.median(mine.cpu), statistics.median(tar.cpu)
        print(f"{label:<15}{a:>10.2f}{b:>8.2f}{a / b:>7.2f}{c:>14.2f}{d:>11.2f}{c / d:>7.2f}"
              f"{mine.peak_rss / MiB:>9.0f} MB{tar.peak_rss / MiB:>6.0f} MB")
    spread = {label: (min(m.seconds), max(m.seconds), min(t.seconds), max(t.seconds))
              for label, (m, t) in sides.items()}
    for label, (a0, a1, b0, b1) in spread.items():
        print(f"  {label:<13} lamina {a0:.2f} to {a1:.2f} s, tar {b0:.2f} to {b1:.2f} s")


if __name__ == "__main__":
    main()
