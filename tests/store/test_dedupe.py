"""dedupe: identical GGUFs found by size then hash; linked only with apply."""

from __future__ import annotations

import os
from pathlib import Path

from store.dedupe import dedupe


def test_finds_and_links_identical_ggufs(tmp_path: Path) -> None:
    data = b"GGUF" + os.urandom(4096)
    paths = [tmp_path / "ollama/blobs/sha256-x", tmp_path / "lms/a/b/m.gguf",
             tmp_path / "hf/blobs/abc"]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (tmp_path / "hf/snap").symlink_to(paths[2])  # the HF cache's links are not copies
    (tmp_path / "lms/a/b/other.gguf").write_bytes(b"GGUF" + os.urandom(4096))  # same size only
    (tmp_path / "lms/a/b/x.txt").write_bytes(b"text" * 5)
    (tmp_path / "ollama/x.txt").write_bytes(b"text" * 5)  # identical, but not GGUFs

    report = dedupe([tmp_path / "ollama", tmp_path / "lms", tmp_path / "hf"],
                    prefer=tmp_path / "lms")
    (group,) = report.groups
    assert group.keep == paths[1] and set(group.copies) == {paths[0], paths[2]}
    assert report.saved == 2 * len(data) and not report.applied
    assert len({p.stat().st_ino for p in paths}) == 3  # a dry run changes nothing

    applied = dedupe([tmp_path], prefer=tmp_path / "lms", apply=True)
    assert applied.saved == 2 * len(data) and applied.failures == ()
    assert len({p.stat().st_ino for p in paths}) == 1
    assert all(p.read_bytes() == data for p in paths)
    assert dedupe([tmp_path]).groups == ()
