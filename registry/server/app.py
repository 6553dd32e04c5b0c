"""The registry as an ASGI application: routes, error answers, and the API version header.

Every handler's failures become the spec's JSON error body (``{"errors":[{"code","message",
"detail"}]}``): validation and auth raise ``RegistryError`` directly, the store's errors are
mapped by kind (``common.translate``), and anything unforeseen is a logged 500 UNKNOWN.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ErrorCode, RegistryError
from . import blobs, manifests, referrers, tags, uploads
from .auth import TOKEN_PATH, Auth
from .backend import Backend
from .common import API_VERSION, Refused, Settings, State, error_response, principal, translate
from .common import state as state_of
from .mirror import Mirror

Handler = Callable[[Request], Awaitable[Response]]


def create_app(backend: Backend, auth: Auth | None = None,
               settings: Settings | None = None, mirror: Mirror | None = None) -> ASGIApp:
    """The registry serving ``backend``; open to all unless ``auth`` says otherwise; pulls it
    cannot serve are fetched from ``mirror``'s upstream when there is one."""
    app = Starlette(routes=_routes(), exception_handlers={HTTPException: _http_error})
    app.state.lamina = State(backend, auth or Auth(), settings or Settings(), mirror)
    return _ApiVersion(app)


def _routes() -> list[Route]:
    name = "/v2/{name:path}"
    return [
        Route("/v2/", _endpoint(_base), methods=["GET"]),
        Route(TOKEN_PATH, _endpoint(_token), methods=["GET"]),
        Route("/v2/_catalog", _endpoint(tags.catalog), methods=["GET"]),
        Route(f"{name}/tags/list", _endpoint(tags.tags), methods=["GET"]),
        Route(f"{name}/manifests/{{reference}}", _endpoint(manifests.manifest),
              methods=["GET"]),
        Route(f"{name}/manifests/{{reference}}", _endpoint(manifests.put), methods=["PUT"]),
        Route(f"{name}/manifests/{{reference}}", _endpoint(manifests.delete),
              methods=["DELETE"]),
        Route(f"{name}/blobs/uploads/", _endpoint(uploads.start), methods=["POST"]),
        Route(f"{name}/blobs/uploads/{{upload}}", _endpoint(uploads.chunk), methods=["PATCH"]),
        Route(f"{name}/blobs/uploads/{{upload}}", _endpoint(uploads.status), methods=["GET"]),
        Route(f"{name}/blobs/uploads/{{upload}}", _endpoint(uploads.finish), methods=["PUT"]),
        Route(f"{name}/blobs/uploads/{{upload}}", _endpoint(uploads.cancel),
              methods=["DELETE"]),
        Route(f"{name}/blobs/{{digest}}", _endpoint(blobs.blob),
              methods=["GET", "DELETE"]),
        Route(f"{name}/referrers/{{digest}}", _endpoint(referrers.referrers), methods=["GET"]),
    ]


def _endpoint(handler: Handler) -> Handler:
    """``handler`` with every failure answered as the spec's JSON error."""

    @functools.wraps(handler)
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as refused:
            return error_response(request, refused.error, refused.headers)
        except Exception as error:  # the one place every failure is turned into an answer
            return error_response(request, translate(error))

    return answer


async def _base(request: Request) -> Response:
    """``GET /v2/``: 200 means "this is a registry"; an anonymous caller of a registry with
    auth is challenged, which is how clients learn where to get a token."""
    if state_of(request).auth.enabled and principal(request).user is None \
            and principal(request).grants is None:
        raise RegistryError.of(ErrorCode.UNAUTHORIZED, "authentication required")
    return JSONResponse({})


async def _token(request: Request) -> Response:
    return state_of(request).auth.token_response(request)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing's own answers (no such path, wrong method) in the spec's error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        error = RegistryError(405, ErrorCode.UNSUPPORTED, f"{request.method} is not supported here")
    else:
        error = RegistryError(404, ErrorCode.NAME_UNKNOWN if status == 404 else ErrorCode.UNKNOWN,
                              f"no such endpoint {request.url.path}")
    return error_response(request, error)


class _ApiVersion:
    """Adds ``Docker-Distribution-API-Version: registry/2.0`` to every answer, as Docker's
    clients look for it."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), API_VERSION]
            await send(message)

        await self.app(scope, receive, send_with_version)
