"""How close ``lamina create`` from a large GGUF comes to plain hashing, and what it costs on disk.

Makes a valid GGUF of random-ish tensor bytes beside the repository (same file system as the
stores it creates), warms it into the page cache, then alternates ``openssl dgst -sha256`` with a
full ``store.create`` (Modelfile ``FROM ./model.gguf`` to published manifest) into a fresh store
with an empty hash cache, and finally re-creates the model with the cache warm. Prints medians
and the three ratios lamina aims for.

    .venv/bin/python bench/create_hashing.py [--size-mb 2048] [--rounds 3]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import modelfile  # noqa: E402
import store  # noqa: E402

T = TypeVar("T")
MiB = 1024 * 1024
BLOCK = 64 * MiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2048, help="size of the test file in MiB")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each contender")
    parser.add_argument("--dir", type=Path, default=REPO / ".bench-tmp", help="scratch folder")
    args = parser.parse_args()

    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="create-hashing-", dir=args.dir))
    try:
        source = make_source(work / "model.gguf", args.size_mb * MiB)
        run(source, work, args.rounds)
    finally:
        for path in work.rglob("*"):
            if path.is_file():
                path.chmod(0o644)  # the hardlinked import left it read-only
        shutil.rmtree(work)
        if not any(args.dir.iterdir()):
            args.dir.rmdir()


def run(source: Path, work: Path, rounds: int) -> None:
    size = source.stat().st_size
    openssl_times: list[float] = []
    import_times: list[float] = []
    reimport_times: list[float] = []
    extra: list[int] = []
    for round_number in range(1, rounds + 1):
        openssl_times.append(timed(openssl, source)[0])
        root = work / f"store-{round_number}"
        target = store.Store(root)
        seconds, first = timed(functools.partial(create, target), source)
        import_times.append(seconds)
        extra.append(extra_blob_bytes(root, source))
        metadata = disk_bytes(root / ".lamina") + sum(
            p.lstat().st_blocks * 512 for p in (root / "blobs").iterdir()
            if p.lstat().st_size < source.stat().st_size)
        seconds, again = timed(functools.partial(create, target), source)
        reimport_times.append(seconds)
        (_, imported), = first.imports
        (_, cached), = again.imports
        assert not cached.hashed, "the hash cache did not answer"
        assert again.manifest.digest == first.manifest.digest
        print(
            f"round {round_number}: openssl {openssl_times[-1]:.3f} s, create "
            f"{import_times[-1]:.3f} s ({imported.method.value if imported.method else '-'}), "
            f"re-create {reimport_times[-1] * 1000:.1f} ms, extra blob bytes {extra[-1]}"
        )
        shutil.rmtree(root)
    print(f"(besides: config and params blobs, and lamina's hash cache and locks: "
          f"{metadata} bytes)")

    openssl_s = statistics.median(openssl_times)
    import_s = statistics.median(import_times)
    reimport_s = statistics.median(reimport_times)
    print(f"\nfile: {size / MiB:.0f} MiB, medians of {rounds} rounds")
    print(f"openssl dgst -sha256: {openssl_s:.3f} s ({size / openssl_s / 1e9:.2f} GB/s)")
    print(f"lamina create:        {import_s:.3f} s ({size / import_s / 1e9:.2f} GB/s)")
    print(f"re-create (cached):   {reimport_s * 1000:.1f} ms")
    print(f"create / openssl: {import_s / openssl_s:.2f} (target <= 1.10)")
    print(f"extra bytes on disk: {max(extra)} (target 0)")
    print(f"re-create / create: {reimport_s / import_s:.3f} (target <= 0.05)")


def create(target: store.Store, source: Path) -> store.CreateResult:
    recipe = modelfile.parse(f"FROM ./{source.name}\nPARAMETER temperature 0.7\n")
    return store.create(target, "bench", recipe, base_dir=source.parent)


def gguf_header(data_size: int) -> bytes:
    """A GGUF v3 header: architecture ``llama`` and one F32 tensor of ``data_size`` bytes."""
    def text(value: str) -> bytes:
        return struct.pack("<Q", len(value)) + value.encode()

    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    header += text("general.architecture") + struct.pack("<I", 8) + text("llama")
    header += text("weights") + struct.pack("<IQIQ", 1, data_size // 4, 0, 0)
    return header + b"\0" * (-len(header) % 32)


def make_source(path: Path, size: int) -> Path:
    """A valid GGUF whose tensor holds random-ish bytes, varied per block."""
    block = bytearray(os.urandom(BLOCK))
    size -= size % 4
    with open(path, "wb") as out:
        out.write(gguf_header(size))
        written = 0
        while written < size:
            block[:8] = written.to_bytes(8, "little")
            chunk = memoryview(block)[: min(BLOCK, size - written)]
            out.write(chunk)
            written += len(chunk)
        out.flush()
        os.fsync(out.fileno())  # a downloaded GGUF is on disk already, not dirty in memory
    # Nor is it being written to: lamina does not cache the stat of files younger than 2 s.
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    with open(path, "rb", buffering=0) as warm:  # the page cache holds it for every contender
        buffer = bytearray(BLOCK)
        while warm.readinto(buffer):
            pass
    return path


def openssl(path: Path) -> None:
    subprocess.run(["openssl", "dgst", "-sha256", str(path)], check=True, capture_output=True)


def extra_blob_bytes(root: Path, source: Path) -> int:
    """Disk blocks the store spent on the weights: blobs the size of the source that are not
    the source's own inode (the config and params blobs, a few KB, are counted apart)."""
    inode = source.stat().st_ino
    total = 0
    for path in (root / "blobs").iterdir():
        st = path.lstat()
        if st.st_ino != inode and st.st_size >= source.stat().st_size:
            total += st.st_blocks * 512
    return total


def disk_bytes(folder: Path) -> int:
    return sum(p.lstat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def timed(action: Callable[[Path], T], path: Path) -> tuple[float, T]:
    start = time.perf_counter()
    result = action(path)
    return time.perf_counter() - start, result


if __name__ == "__main__":
    main()
