"""How a whole blob leaves the server: streamed in large reads, or by ``pathsend`` once
another whole-blob answer is streaming (so that many slow pulls do not pile up memory)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from registry.server import blobs


def answer(path: Path, *, pathsend: bool) -> list[dict[str, Any]]:
    data = path.read_bytes()
    response = blobs.BlobResponse(200, {}, path.open("rb"), path, 0, len(data))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    scope = {"type": "http", "extensions": {"http.response.pathsend": {}} if pathsend else {}}
    asyncio.run(response(scope, receive, send))  # type: ignore[arg-type]
    return sent[1:]


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(2 * blobs.CHUNK + 123))
    return path


def body(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(m["body"] for m in messages if m["type"] == "http.response.body")


def test_a_blob_streams_in_large_reads_when_no_other_does(blob: Path) -> None:
    messages = answer(blob, pathsend=True)
    assert [len(m["body"]) for m in messages] == [blobs.CHUNK, blobs.CHUNK, 123]
    assert body(messages) == blob.read_bytes()
    assert blobs._streaming == 0


def test_beyond_the_streamed_answers_a_blob_goes_by_pathsend(
        blob: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobs, "_streaming", blobs.STREAMED)
    assert answer(blob, pathsend=True) == [
        {"type": "http.response.pathsend", "path": os.fspath(blob)}]
    # A server without pathsend streams it anyway.
    assert body(answer(blob, pathsend=False)) == blob.read_bytes()
