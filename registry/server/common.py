"""What every handler shares: the server's state, access checks, absolute URLs, error answers,
and running the store's blocking calls off the event loop."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

import ocitypes
from ocitypes import Digest

from ..errors import ErrorCode, RegistryError
from ..protocols import UploadSession
from .auth import Auth, Principal, base_url
from .backend import Backend

if TYPE_CHECKING:
    from .mirror import Mirror

_T = TypeVar("_T")
log = logging.getLogger("lamina.serve")

API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")
MAX_SESSIONS = 256


@dataclass
class Settings:
    """How the server presents itself; none of it changes what it stores."""

    public_url: str | None = None
    """scheme://host[:port] for absolute Locations; by default the one the client used."""
    redirect_host: str | None = None
    """Answer blob GETs with a 307 to this host name (same port) with a signed URL, for Ollama
    clients whose direct downloads should go elsewhere (a CDN or a second name)."""
    signed_url_ttl: float = 3600.0
    max_manifest_bytes: int = ocitypes.MAX_MANIFEST_BYTES


@dataclass
class State:
    backend: Backend
    auth: Auth = field(default_factory=Auth)
    settings: Settings = field(default_factory=Settings)
    mirror: Mirror | None = None
    """The upstream that pulls the store cannot serve are fetched from, if any."""
    referrers: dict[Digest, tuple[str, dict[str, object]] | None] = field(default_factory=dict)
    """What each manifest read by the referrers API refers to, by its digest."""
    sessions: OrderedDict[str, UploadSession] = field(default_factory=OrderedDict)
    """Upload sessions this process has open, by id: a session found again by ``resume``
    re-hashes what it holds, so reusing the object spares a push of many chunks from hashing
    its prefix again for every chunk."""

    def session(self, upload_id: str) -> UploadSession:
        found = self.sessions.get(upload_id)
        if found is None:
            found = self.sessions[upload_id] = self.backend.uploads.resume(upload_id)
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
        return found

    def began(self, session: UploadSession) -> UploadSession:
        self.sessions[session.id] = session
        return session

    def ended(self, session: UploadSession) -> None:
        self.sessions.pop(session.id, None)


def state(request: Request) -> State:
    value: State = request.app.state.lamina
    return value


async def run(function: Callable[..., _T], *args: object) -> _T:
    """Call the store (blocking file I/O) in a worker thread."""
    return await to_thread.run_sync(function, *args)


def principal(request: Request) -> Principal:
    found: Principal | None = getattr(request.state, "principal", None)
    if found is None:
        found = request.state.principal = state(request).auth.principal(request)
    return found


def require(request: Request, repository: str, action: str) -> None:
    """Go on only if the caller may ``action`` (pull or push) ``repository``."""
    auth = state(request).auth
    who = principal(request)
    if auth.allows(who, repository, action):
        return
    actions = "pull" if action == "pull" else "pull,push"
    request.state.scope = f"repository:{repository}:{actions}"
    if who.user is None or who.grants is not None:
        request.state.scope_error = "insufficient_scope" if who.grants is not None else None
        raise RegistryError.of(ErrorCode.UNAUTHORIZED, "authentication required",
                               [{"Type": "repository", "Name": repository, "Action": action}])
    raise RegistryError.of(ErrorCode.DENIED, f"{who.user} may not {action} {repository}")


def url(request: Request, path: str) -> str:
    """An absolute URL on this server (Ollama does not resolve relative Locations)."""
    return (state(request).settings.public_url or base_url(request)).rstrip("/") + path


class Refused(Exception):
    """An error answer with headers of its own (a 416's ``Range``, say)."""

    def __init__(self, error: RegistryError, headers: dict[str, str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.headers = headers


def error_response(request: Request, error: RegistryError,
                   extra: dict[str, str] | None = None) -> Response:
    headers = {"Content-Type": "application/json", **(extra or {})}
    if error.status == 401:
        headers["WWW-Authenticate"] = state(request).auth.challenge(
            request, getattr(request.state, "scope", None),
            getattr(request.state, "scope_error", None))
    body = b"" if request.method == "HEAD" else error.to_body()
    headers["Content-Length"] = str(len(error.to_body()))
    return Response(body, status_code=error.status, headers=headers)


# What the store's errors (subclasses of these) mean on the wire; most specific first.
_OCI_CODES: tuple[tuple[type[Exception], ErrorCode], ...] = (
    (ocitypes.NameInvalid, ErrorCode.NAME_INVALID),
    (ocitypes.BlobUnknown, ErrorCode.BLOB_UNKNOWN),
    (ocitypes.ManifestUnknown, ErrorCode.MANIFEST_UNKNOWN),
    (ocitypes.UploadUnknown, ErrorCode.BLOB_UPLOAD_UNKNOWN),
    (ocitypes.DigestInvalid, ErrorCode.DIGEST_INVALID),
    (ocitypes.InvalidDigest, ErrorCode.DIGEST_INVALID),
    (ocitypes.ManifestBlobUnknown, ErrorCode.MANIFEST_BLOB_UNKNOWN),
    (ocitypes.InvalidJSON, ErrorCode.MANIFEST_INVALID),
)


def _message(error: Exception, code: ErrorCode) -> str:
    """What a client is told: for something missing, the spec's words and what was asked for,
    not the store's own text, whose advice (``see 'lamina list'``) is for the server's user."""
    subject = getattr(error, "digest", None) or getattr(error, "name", None)
    if not isinstance(error, LookupError) or not isinstance(subject, str):
        return str(error)
    reason = getattr(error, "reason", "")
    return f"{code.text}: {subject}" + (f" ({reason})" if isinstance(reason, str) and reason
                                         else "")


def translate(error: Exception) -> RegistryError:
    """The answer for an error a handler let through: the store's failures by kind, anything
    else a 500 UNKNOWN (logged, and never with a traceback in the body)."""
    if isinstance(error, RegistryError):
        return error
    if isinstance(error, ocitypes.RangeInvalid):
        return RegistryError(416, ErrorCode.BLOB_UPLOAD_INVALID, str(error))
    for kind, code in _OCI_CODES:
        if isinstance(error, kind):
            return RegistryError.of(code, _message(error, code))
    log.exception("internal error", exc_info=error)
    return RegistryError.of(ErrorCode.UNKNOWN, "internal server error; see the server's log")
