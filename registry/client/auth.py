"""Registry authentication as an ``httpx.Auth`` flow: anonymous, Basic, and the Docker token flow
(distribution ``docs/spec/auth/token.md``).

A request goes out with what worked before for its host and repository (a cached token or Basic
credentials). On a 401 the challenge decides: ``Basic`` resends with the credentials, if any;
``Bearer realm,service,scope`` fetches a token from the realm (with Basic credentials when known,
anonymously otherwise), caches it per scope until ``expires_in`` runs out, and resends. A 401
that survives this reaches the caller, which says which ``lamina login`` to run.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx

__all__ = ["Challenge", "Credentials", "RegistryAuth", "parse_challenge"]

_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_REPOSITORY_PATH = re.compile(r"/v2/(.+?)/(?:blobs|manifests|tags)/")
# A token is renewed this long before it expires, so that it does not lapse in flight.
_MARGIN = 10.0


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password (or identity token) for one registry; never logged."""

    username: str
    password: str

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<hidden>)"


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: its scheme (lower case) and parameters."""

    scheme: str
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """The challenge in a ``WWW-Authenticate`` value (RFC 9110 §11.6.1); None if empty."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        match.group(1).lower(): (
            match.group(2).replace('\\"', '"') if match.group(2) is not None else match.group(3)
        )
        for match in _PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


@dataclass(slots=True)
class _Token:
    value: str
    expires: float


class RegistryAuth(httpx.Auth):
    """Answers one registry's challenges; ``credentials`` is looked up per host, once."""

    # Only the realm's answer is read here (below); answers to registry requests stay streams.
    requires_response_body = False

    def __init__(
        self,
        credentials: Callable[[str], Credentials | None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = credentials or (lambda host: None)
        self._known: dict[str, Credentials | None] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], _Token] = {}
        # Which scope last worked for a host and repository, to send its token up front.
        self._scope_of: dict[tuple[str, str], str] = {}
        self._basic_hosts: set[str] = set()
        self.token_requests = 0
        """How many tokens were fetched (the cache is tested by this)."""

    def credentials(self, host: str) -> Credentials | None:
        with self._lock:
            if host not in self._known:
                self._known[host] = self._lookup(host)
            return self._known[host]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        host = request.url.netloc.decode("ascii")
        sent = self._authorize_from_cache(request, host)
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return
        credentials = self.credentials(host)
        if challenge.scheme == "basic":
            if credentials is None or sent == "basic":
                return
            with self._lock:
                self._basic_hosts.add(host)
            request.headers["Authorization"] = credentials.basic()
            yield request
        elif challenge.scheme == "bearer" and "realm" in challenge.params:
            scope = _scope(challenge, request)
            token = self._cached(host, scope)
            if token is None or sent == token:
                token_response = yield self._token_request(challenge, scope, credentials)
                token_response.read()
                token = self._store_token(host, scope, token_response)
                if token is None:
                    return
            self._remember_scope(host, request, scope)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _authorize_from_cache(self, request: httpx.Request, host: str) -> str | None:
        """Add what worked before; returns the token sent, ``"basic"``, or None."""
        repository = _repository(request)
        with self._lock:
            scope = self._scope_of.get((host, repository))
            basic = host in self._basic_hosts
        if scope is not None:
            token = self._cached(host, scope)
            if token is not None:
                request.headers["Authorization"] = f"Bearer {token}"
                return token
        credentials = self.credentials(host) if basic else None
        if credentials is not None:
            request.headers["Authorization"] = credentials.basic()
            return "basic"
        return None

    def _cached(self, host: str, scope: str) -> str | None:
        with self._lock:
            token = self._tokens.get((host, scope))
        if token is None or token.expires - _MARGIN <= self._clock():
            return None
        return token.value

    def _remember_scope(self, host: str, request: httpx.Request, scope: str) -> None:
        with self._lock:
            self._scope_of[(host, _repository(request))] = scope

    def _token_request(
        self, challenge: Challenge, scope: str, credentials: Credentials | None
    ) -> httpx.Request:
        params: list[tuple[str, str | int | float | bool | None]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        params += [("scope", part) for part in scope.split(" ") if part]
        if credentials is not None:
            params.append(("account", credentials.username))
        realm = httpx.URL(challenge.params["realm"])
        url = realm.copy_merge_params(params)
        headers = {"Authorization": credentials.basic()} if credentials is not None else {}
        self.token_requests += 1
        return httpx.Request("GET", url, headers=headers)

    def _store_token(self, host: str, scope: str, response: httpx.Response) -> str | None:
        """The token in a realm's answer, cached; None if the realm refused."""
        if response.status_code != 200:
            return None
        try:
            document = json.loads(response.content)
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            return None
        lifetime = document.get("expires_in")
        # token.md: 60 seconds when absent, and never less.
        seconds = max(float(lifetime), 60.0) if isinstance(lifetime, int | float) else 60.0
        with self._lock:
            self._tokens[(host, scope)] = _Token(token, self._clock() + seconds)
        return token


def _repository(request: httpx.Request) -> str:
    match = _REPOSITORY_PATH.match(request.url.path)
    return match.group(1) if match else ""


def _scope(challenge: Challenge, request: httpx.Request) -> str:
    """The scopes to ask for: the challenge's, plus pull on a mount's source repository (which
    a registry does not name in its challenge, then quietly refuses to mount)."""
    scope = challenge.params.get("scope", "")
    if not scope:
        repository = _repository(request)
        if repository:
            actions = "pull" if request.method in ("GET", "HEAD") else "pull,push"
            scope = f"repository:{repository}:{actions}"
    query = dict(parse_qsl(urlsplit(str(request.url)).query))
    source = query.get("from")
    if "mount" in query and source:
        extra = f"repository:{source}:pull"
        if extra not in scope.split(" "):
            scope = f"{scope} {extra}".strip()
    return scope
