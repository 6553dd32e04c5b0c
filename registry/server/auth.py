"""Authentication: Basic (htpasswd), Bearer tokens from the built-in token endpoint, and
Ollama's ed25519-signed token requests; then the access rules decide (``access``).

The token endpoint lives on the registry's own host (``/v2/token``), as Ollama requires of a
realm. It grants the intersection of the scopes asked for and what the rules allow, like
Distribution's token servers: a partial grant is not an error. A request whose token lacks a
scope gets a 401 challenge naming the scope, so clients fetch a wider token and retry.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ErrorCode, RegistryError
from .access import ACTIONS, PULL, Access
from .credentials import AuthorizedKeys, Htpasswd
from .signing import Signer

TOKEN_PATH = "/v2/token"
TOKEN_TTL = 300.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a user name (None: anonymous) and, for a Bearer token, what it grants."""

    user: str | None = None
    grants: frozenset[tuple[str, str]] | None = None
    """(repository, action) pairs a token carries; None when credentials came directly."""


ANONYMOUS = Principal()


@dataclass
class Auth:
    access: Access = field(default_factory=Access.open)
    htpasswd: Htpasswd | None = None
    keys: AuthorizedKeys | None = None
    signer: Signer = field(default_factory=Signer)
    token_ttl: float = TOKEN_TTL

    @property
    def enabled(self) -> bool:
        return self.htpasswd is not None or self.keys is not None

    def principal(self, request: Request) -> Principal:
        """The caller, from its Authorization header; 401 for credentials that are wrong."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if not header or not self.enabled:
            return ANONYMOUS
        if scheme.lower() == "bearer":
            payload = self.signer.open_token(value.strip())
            if payload is None:
                raise unauthorized("the token is invalid or expired; sign in again")
            return _token_principal(payload)
        if scheme.lower() == "basic":
            user = self._basic_user(value)
            if user is None:
                raise unauthorized("wrong user name or password")
            return Principal(user)
        raise unauthorized("unsupported Authorization scheme; use Basic or Bearer")

    def allows(self, principal: Principal, repository: str, action: str) -> bool:
        if not self.enabled:
            return True
        if principal.grants is not None:
            return (repository, action) in principal.grants
        return self.access.allows(principal.user, repository, action)

    def _basic_user(self, value: str) -> str | None:
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode(
                "utf-8").partition(":")
        except (binascii.Error, ValueError):
            return None
        if not sep or self.htpasswd is None or not self.htpasswd.check(user, password):
            return None
        return user

    def token_response(self, request: Request) -> Response:
        """``GET /v2/token?service=…&scope=…``: a token for what the caller may do."""
        user = self._token_user(request)
        wanted = [s for value in request.query_params.getlist("scope") for s in value.split()]
        grants = sorted({
            (repository, action)
            for repository, actions in map(parse_scope, wanted) if repository
            for action in actions
            if action in ACTIONS and self.access.allows(user, repository, action)
        })
        token = self.signer.token({"sub": user, "access": [list(g) for g in grants]},
                                  self.token_ttl)
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.signer.now()))
        return JSONResponse({"token": token, "access_token": token,
                             "expires_in": int(self.token_ttl), "issued_at": issued})

    def _token_user(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if not header:
            return None
        if scheme.lower() == "basic":
            user = self._basic_user(value)
            if user is None:
                raise unauthorized("wrong user name or password")
            return user
        if " " not in header.strip() and self.keys is not None:
            user = self.keys.identify(header, signed_url(request),
                                      request.query_params.get("ts", ""),
                                      request.query_params.get("nonce", ""))
            if user is None:
                raise unauthorized("this key is not authorized here (or the request is "
                                   "stale): add its public key to the authorized-keys file")
            return user
        raise unauthorized("unsupported Authorization scheme; use Basic or an Ollama key")

    def challenge(self, request: Request, scope: str | None, error: str | None) -> str:
        """The ``WWW-Authenticate`` value sending clients to the token endpoint."""
        realm = f"{base_url(request)}{TOKEN_PATH}"
        parts = [f'realm="{realm}"', f'service="{request.headers.get("host", "lamina")}"']
        if scope:
            parts.append(f'scope="{scope}"')
        if error:
            parts.append(f'error="{error}"')
        return "Bearer " + ",".join(parts)


def _token_principal(payload: dict[str, object]) -> Principal:
    user = payload.get("sub")
    access = payload.get("access")
    grants = frozenset(
        (str(g[0]), str(g[1])) for g in access if isinstance(g, list) and len(g) == 2
    ) if isinstance(access, list) else frozenset()
    return Principal(user if isinstance(user, str) else None, grants)


def parse_scope(scope: str) -> tuple[str | None, tuple[str, ...]]:
    """``repository:<name>:<actions>`` → (name, actions); (None, ()) for other resources.
    The name may hold a ``:port``, so the type is split off the left and actions off the
    right."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if kind != "repository" or not name:
        return None, ()
    expanded = ACTIONS if actions == "*" else tuple(a for a in actions.split(",") if a)
    return name, expanded


def unauthorized(message: str) -> RegistryError:
    return RegistryError.of(ErrorCode.UNAUTHORIZED, message)


def base_url(request: Request) -> str:
    """scheme://host[:port] as the client addressed this server."""
    scheme = request.url.scheme
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{scheme}://{host}"


def signed_url(request: Request) -> str:
    """The URL exactly as the client sent it, which is what Ollama signs."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    url = base_url(request) + raw_path.decode("latin-1")
    return f"{url}?{query.decode('latin-1')}" if query else url


__all__ = ["ANONYMOUS", "PULL", "Auth", "Principal", "parse_scope"]
