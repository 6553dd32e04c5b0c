"""The stat-keyed hash cache: exact matches only, one row per inode, safe across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ocitypes.digest import Digest
from store.errors import StorageError
from store.hashcache import CHUNK_SIZE, FileKey, HashCache, Hasher

ROOT = Path(__file__).parents[2]
A = Digest.of(b"a")
B = Digest.of(b"b")


@pytest.fixture
def cache(tmp_path: Path) -> HashCache:
    return HashCache(tmp_path / "state" / "hashcache.sqlite")


def key(**changes: int) -> FileKey:
    fields = {"dev": 2049, "ino": 1234, "size": 10, "mtime_ns": 5, "ctime_ns": 6} | changes
    return FileKey(**fields)


def test_a_missing_cache_answers_nothing_and_creates_nothing(cache: HashCache) -> None:
    assert cache.get(key()) is None
    cache.forget(key())
    assert not cache.path.exists()


def test_exact_stat_hits(cache: HashCache) -> None:
    cache.put(key(), A)
    assert cache.get(key()) == A


@pytest.mark.parametrize("field", ["size", "mtime_ns", "ctime_ns"])
def test_any_change_misses(cache: HashCache, field: str) -> None:
    cache.put(key(), A)
    assert cache.get(key(**{field: 99})) is None


def test_one_row_per_inode(cache: HashCache) -> None:
    cache.put(key(), A)
    cache.put(key(mtime_ns=7), B)
    assert cache.get(key()) is None
    assert cache.get(key(mtime_ns=7)) == B
    cache.forget(key())
    assert cache.get(key(mtime_ns=7)) is None


def test_unsigned_64_bit_device_and_inode_numbers(cache: HashCache) -> None:
    big = key(dev=2**64 - 1, ino=2**63 + 5)
    cache.put(big, A)
    assert cache.get(big) == A
    assert cache.get(key(dev=2**64 - 1, ino=5)) is None


def test_key_of_a_stat(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"xyz")
    st = path.stat()
    assert FileKey.of(st) == FileKey(st.st_dev, st.st_ino, 3, st.st_mtime_ns, st.st_ctime_ns)


def test_a_damaged_cache_is_a_storage_error(cache: HashCache) -> None:
    cache.path.parent.mkdir(parents=True)
    cache.path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="hash cache"):
        cache.get(key())


WRITER = """
import sys
from pathlib import Path
from ocitypes.digest import Digest
from store.hashcache import CHUNK_SIZE, FileKey, HashCache, Hasher
cache = HashCache(Path(sys.argv[1]))
worker = int(sys.argv[2])
for n in range(150):
    k = FileKey(1, worker * 1000 + n, n, n, n)
    cache.put(k, Digest.of(str(n).encode()))
    assert cache.get(k) == Digest.of(str(n).encode())
"""


def test_several_processes_write_at_once(cache: HashCache) -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(cache.path), str(n)], env=env)
        for n in range(4)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
    for worker in range(4):
        assert cache.get(FileKey(1, worker * 1000 + 149, 149, 149, 149)) == Digest.of(b"149")


def test_hasher_reads_a_file_in_chunks_and_reports_progress(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = os.urandom(CHUNK_SIZE + 5)
    path.write_bytes(data)
    seen: list[int] = []
    hasher = Hasher(seen.append)
    with open(path, "rb") as file:
        hasher.update_from(file.fileno())
    assert hasher.digest() == Digest.of(data)
    assert hasher.size == sum(seen) == len(data)
    assert seen == [CHUNK_SIZE, 5]
