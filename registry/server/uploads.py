"""Blob uploads (distribution-spec §Pushing blobs): ``POST`` to start (or mount, or push in one
request), ``PATCH`` chunks, ``GET`` the status, ``PUT ?digest=`` to finish, ``DELETE`` to
cancel.

Sessions belong to the store (``BlobSink``): their ids are opaque tokens it makes, and a PATCH
may reach a process other than the one that began the upload. Ollama's push sends
``Content-Range: <start>-<end>`` without the ``bytes=`` prefix, asks ``X-Redirect-Uploads: 1``
(this server never redirects, so it answers 202 as for anyone) and finishes with
``PUT ?digest=…&etag=…``; extra query parameters are ignored.
"""

from __future__ import annotations

import re

import anyio
from starlette.requests import Request
from starlette.responses import Response

from ..errors import ErrorCode, RegistryError
from ..protocols import UploadSession
from . import names
from .access import PULL, PUSH
from .common import Refused, principal, require, run, state, url

BATCH = 16 << 20
"""Bytes gathered from the request before one write: few thread hops for a large blob, and
large direct writes, which a disk takes faster than many small ones (``bench/serve_blobs.py``)."""
_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)")


async def start(request: Request) -> Response:
    """``POST /v2/<name>/blobs/uploads/``."""
    name = names.repository(request.path_params["name"])
    require(request, name, PUSH)
    query = request.query_params
    backend = state(request).backend
    if "mount" in query:
        mounted = await _mount(request, name, query["mount"], query.get("from"))
        if mounted is not None:
            return mounted
    if "digest" in query:
        digest = names.digest(query["digest"])
        session = await run(backend.uploads.begin)
        try:
            await _receive(request, session, None)
        except BaseException:
            await run(session.abort)
            raise
        await run(session.commit, digest)
        return _created(request, name, str(digest))
    session = state(request).began(await run(backend.uploads.begin))
    return _session_response(request, name, session, 202)


async def _mount(request: Request, name: str, digest_text: str,
                 source: str | None) -> Response | None:
    """201 when the blob can be mounted (it is in the store, and the caller may pull the
    repository it names), else None: the caller gets an upload session instead."""
    digest = names.digest(digest_text)
    if source is not None:
        source = names.repository(source)
        if not state(request).auth.allows(principal(request), source, PULL):
            return None
    if not await run(state(request).backend.uploads.exists, digest):
        return None
    return _created(request, name, str(digest))


async def chunk(request: Request) -> Response:
    """``PATCH /v2/<name>/blobs/uploads/<id>``: append a chunk (in order, or 416)."""
    name, session = await _session(request)
    start_at = _check_range(request, session, name)
    await _receive(request, session, start_at)
    return _session_response(request, name, session, 202)


async def status(request: Request) -> Response:
    """``GET /v2/<name>/blobs/uploads/<id>``: 204 with how much has arrived."""
    name, session = await _session(request)
    return _session_response(request, name, session, 204)


async def finish(request: Request) -> Response:
    """``PUT /v2/<name>/blobs/uploads/<id>?digest=…``: the last chunk, if any, then publish."""
    name, session = await _session(request)
    digest = names.digest(request.query_params.get("digest", ""))
    start_at = _check_range(request, session, name)
    await _receive(request, session, start_at)
    try:
        await run(session.commit, digest)
    finally:
        state(request).ended(session)
    return _created(request, name, str(digest))


async def cancel(request: Request) -> Response:
    """``DELETE /v2/<name>/blobs/uploads/<id>``."""
    _, session = await _session(request)
    state(request).ended(session)
    await run(session.abort)
    return Response(status_code=204)


async def _session(request: Request) -> tuple[str, UploadSession]:
    name = names.repository(request.path_params["name"])
    require(request, name, PUSH)
    upload = names.upload_id(request.path_params["upload"])
    try:
        session = await run(state(request).session, upload)
        await run(lambda: session.offset)  # a session that has expired since is unknown now
    except LookupError:
        state(request).sessions.pop(upload, None)
        raise
    return name, session


def _check_range(request: Request, session: UploadSession, name: str) -> int | None:
    """Where a ``Content-Range`` says the chunk starts; 416 unless that is where the upload
    ends and ``Content-Length`` agrees with it."""
    header = request.headers.get("content-range")
    if header is None:
        return None
    match = _CONTENT_RANGE.fullmatch(header.strip())
    declared = request.headers.get("content-length")
    if match is None:
        raise _out_of_range(request, name, session, f"malformed Content-Range {header!r}")
    first, last = int(match[1]), int(match[2])
    if first != session.offset:
        raise _out_of_range(request, name, session,
                            f"chunk starts at {first}; the upload has {session.offset} bytes")
    if last < first or (declared is not None and declared.isdigit()
                        and int(declared) != last - first + 1):
        raise _out_of_range(request, name, session,
                            f"Content-Range {header!r} does not match the body's length")
    return first


async def _receive(request: Request, session: UploadSession, start_at: int | None) -> None:
    """Write the request body to the session in batches, the first at ``start_at``: one batch
    is written while the next one arrives (and the store's hashing of it goes on longer)."""
    send, receive = anyio.create_memory_object_stream[list[bytes]](1)

    async def writer() -> None:
        at = start_at
        async with receive:
            async for pieces in receive:
                await run(_write, session, pieces, at)
                at = None

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(writer)
            async with send:
                pending: list[bytes] = []
                size = 0
                async for piece in request.stream():
                    pending.append(piece)
                    size += len(piece)
                    if size >= BATCH:
                        await send.send(pending)
                        pending, size = [], 0
                if pending:
                    await send.send(pending)
    except BaseExceptionGroup as group:  # the store's own error, as if raised here
        raise group.exceptions[0] from None


def _write(session: UploadSession, pieces: list[bytes], at: int | None) -> None:
    session.write(pieces, at=at)


def _out_of_range(request: Request, name: str, session: UploadSession, message: str) -> Refused:
    headers = _session_headers(request, name, session)
    return Refused(RegistryError(416, ErrorCode.BLOB_UPLOAD_INVALID, message), headers)


def _session_headers(request: Request, name: str, session: UploadSession) -> dict[str, str]:
    return {
        "Location": url(request, f"/v2/{name}/blobs/uploads/{session.id}"),
        "Docker-Upload-UUID": session.id,
        "Range": f"0-{max(session.offset - 1, 0)}",
    }


def _session_response(request: Request, name: str, session: UploadSession,
                      status_code: int) -> Response:
    headers = {**_session_headers(request, name, session), "Content-Length": "0"}
    return Response(status_code=status_code, headers=headers)


def _created(request: Request, name: str, digest: str) -> Response:
    return Response(status_code=201, headers={
        "Location": url(request, f"/v2/{name}/blobs/{digest}"),
        "Docker-Content-Digest": digest,
        "Content-Length": "0",
    })
