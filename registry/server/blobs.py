"""``GET``/``HEAD``/``DELETE /v2/<name>/blobs/<digest>``: whole blobs and byte ranges.

A whole blob goes out in 2 MiB reads handed to the ASGI server; ranges and other sources
stream the same way. Measured under granian on loopback (``bench/serve_blobs.py``), one
client's GET ran at 1.5 to 2 GB/s, where granian's ``pathsend`` gave 1.1 GB/s (it copies the
file through 128 KiB reads), but each streamed answer held about 25 MiB more in the server
while slow clients read it. So only :data:`STREAMED` whole-blob answer streams at a time; the
others go by ``pathsend`` when the server offers it (16 concurrent pulls of one blob peaked at
132 to 145 MiB that way, 198 MiB with four streamed).
Every GET answer carries ``Location: <signed URL>``: Ollama's pull takes the URL of the
response it stops at from that header, then fetches ranges of it without credentials.
"""

from __future__ import annotations

import os
import re
from typing import BinaryIO

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

import ocitypes
from ocitypes import Digest

from ..errors import ErrorCode, RegistryError
from . import names
from .access import PULL, PUSH
from .backend import BlobFiles
from .common import Refused, log, require, run, state, url
from .mirror import Mirror, UpstreamFailed

CHUNK = 2 << 20
STREAMED = 1
"""Whole-blob answers streamed at once in a worker; the others go by ``pathsend`` where the
server offers it."""
_streaming = 0  # the worker's event loop is the only one to change it
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


async def blob(request: Request) -> Response:
    name = names.repository(request.path_params["name"])
    digest = names.digest(request.path_params["digest"])
    if request.method == "DELETE":
        require(request, name, PUSH)
        raise RegistryError(405, ErrorCode.UNSUPPORTED,
                            "blobs are shared with local models; delete manifests instead")
    signed = _signed(request, name, digest)
    if not signed:
        require(request, name, PULL)
    source = state(request).backend.blobs
    mirror = state(request).mirror
    if mirror is not None:
        await _mirrored(request, mirror, name, digest)
    size = await run(source.stat, digest)
    direct = _direct_url(request, name, digest, signed)
    settings = state(request).settings
    if request.method == "GET" and settings.redirect_host and not signed:
        return RedirectResponse(direct, status_code=307)
    headers = {
        "Docker-Content-Digest": str(digest),
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
    }
    if request.method == "GET":
        headers["Location"] = direct
    span = byte_range(request.headers.get("range"), size)
    start, end = (0, size) if span is None else span
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    path = source.path(digest) if isinstance(source, BlobFiles) and span is None else None
    reader = None
    if request.method == "GET" and end > start:
        # Opened before the headers go out, so a blob removed since stat is still a 404.
        reader = await run(source.open, digest)
    return BlobResponse(200 if span is None else 206, headers, reader, path, start, end - start)


async def _mirrored(request: Request, mirror: Mirror, name: str, digest: Digest) -> None:
    """Fetch a blob the store lacks from the mirror's upstream. A HEAD the upstream fails is a
    plain 404 (a HEAD cannot carry the reason anyway): pushers HEAD each blob before sending
    it, and pushes to the local store must go on while the upstream is down."""
    try:
        await run(mirror.blob, name, digest)
    except UpstreamFailed as exc:
        if request.method != "HEAD":
            raise
        log.warning("%s", exc)
        raise ocitypes.BlobUnknown(str(digest)) from exc


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The half-open span one ``Range: bytes=…`` asks for; None to send the whole blob
    (no header, another unit, several ranges); 416 for a span outside the blob."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        start, end = max(size - int(last), 0), size
        if int(last) == 0:
            raise _unsatisfiable(size)
    else:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
        if last and int(last) < start:
            raise _unsatisfiable(size)
    if start >= size:
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> Refused:
    error = RegistryError(416, ErrorCode.RANGE_INVALID, f"the blob has {size} bytes")
    return Refused(error, {"Content-Range": f"bytes */{size}"})


def _signed(request: Request, name: str, digest: Digest) -> bool:
    query = request.query_params
    if "signature" not in query:
        return False
    signer = state(request).auth.signer
    if signer.blob_allowed(name, str(digest), query.get("expires", ""), query["signature"]):
        return True
    raise RegistryError.of(ErrorCode.DENIED, "this signed URL is invalid or has expired")


def _direct_url(request: Request, name: str, digest: Digest, signed: bool) -> str:
    """The signed URL of this blob: valid for a while, for anyone who has it."""
    settings = state(request).settings
    path = f"/v2/{name}/blobs/{digest}"
    if signed:
        return url(request, f"{path}?{request.url.query}")
    query = state(request).auth.signer.blob_query(name, str(digest), settings.signed_url_ttl)
    base = url(request, f"{path}?{query}")
    if settings.redirect_host:
        scheme, _, rest = base.partition("://")
        host, slash, tail = rest.partition("/")
        port = host.rpartition(":")[2] if host.count(":") == 1 else ""
        moved = f"{settings.redirect_host}:{port}" if port else settings.redirect_host
        base = f"{scheme}://{moved}{slash}{tail}"
    return base


class BlobResponse(Response):
    """Headers now, then the bytes, read from ``reader`` (None for HEAD) in 2 MiB pieces, or
    by ``pathsend`` for a whole file while :data:`STREAMED` answers stream already."""

    def __init__(self, status: int, headers: dict[str, str], reader: BinaryIO | None,
                 path: os.PathLike[str] | None, start: int, length: int) -> None:
        super().__init__(None, status_code=status,
                         headers={**headers, "Content-Length": str(length)})
        self.reader = reader
        self.path = path
        self.start = start
        self.length = length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        reader = self.reader
        if reader is None:
            await send({"type": "http.response.body", "body": b""})
            return
        global _streaming
        try:
            if (self.path is not None and _streaming >= STREAMED
                    and "http.response.pathsend" in scope.get("extensions", {})):
                await send({"type": "http.response.pathsend", "path": os.fspath(self.path)})
                return
            _streaming += 1
            try:
                await self._stream(reader, send)
            finally:
                _streaming -= 1
        finally:
            await run(reader.close)

    async def _stream(self, reader: BinaryIO, send: Send) -> None:
        await run(reader.seek, self.start)
        remaining = self.length
        while remaining:
            chunk = await run(reader.read, min(CHUNK, remaining))
            if not chunk:
                raise OSError(f"blob ended {remaining} bytes early")
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
