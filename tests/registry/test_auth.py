"""The auth flow against a scripted registry: Basic, tokens, expiry, cached scopes."""

from __future__ import annotations

import base64
import json

import httpx

from registry.client.auth import Credentials, RegistryAuth, parse_challenge

REALM = "https://auth.example/token"


def test_parse_challenge() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": REALM, "service": "reg", "scope": "repository:a/b:pull,push"
    }
    basic = parse_challenge('Basic realm="basic-realm"')
    assert basic is not None and basic.scheme == "basic"
    assert parse_challenge("") is None


class Registry:
    """Wants a Bearer token for every /v2 request; the realm hands them out."""

    def __init__(self, expires_in: int | None = 300, key: str = "token") -> None:
        self.issued = 0
        self.expires_in = expires_in
        self.key = key
        self.realm_auth: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            self.issued += 1
            self.realm_auth.append(request.headers.get("Authorization"))
            body: dict[str, object] = {self.key: f"t{self.issued}"}
            if self.expires_in is not None:
                body["expires_in"] = self.expires_in
            return httpx.Response(200, content=json.dumps(body).encode())
        if request.headers.get("Authorization", "").startswith("Bearer t"):
            return httpx.Response(200, content=b"ok")
        scope = "repository:a/b:pull"
        challenge = f'Bearer realm="{REALM}",service="reg",scope="{scope}"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})


def client(registry: Registry, auth: RegistryAuth) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(registry), auth=auth)


def test_token_is_fetched_once_and_cached_per_scope() -> None:
    registry = Registry()
    auth = RegistryAuth(lambda host: Credentials("me", "pw"))
    with client(registry, auth) as http:
        for _ in range(3):
            assert http.get("https://reg.example/v2/a/b/manifests/latest").status_code == 200
    assert registry.issued == 1
    expected = "Basic " + base64.b64encode(b"me:pw").decode()
    assert registry.realm_auth == [expected]


def test_expired_token_is_renewed() -> None:
    now = [1000.0]
    registry = Registry(expires_in=120)
    auth = RegistryAuth(clock=lambda: now[0])
    with client(registry, auth) as http:
        http.get("https://reg.example/v2/a/b/manifests/latest")
        now[0] += 115  # within the 10-second margin of expiry
        http.get("https://reg.example/v2/a/b/manifests/latest")
    assert registry.issued == 2
    assert registry.realm_auth == [None, None]  # anonymous: no credentials known


def test_access_token_and_default_lifetime() -> None:
    now = [0.0]
    registry = Registry(expires_in=None, key="access_token")
    auth = RegistryAuth(clock=lambda: now[0])
    with client(registry, auth) as http:
        assert http.get("https://reg.example/v2/a/b/blobs/x").status_code == 200
        now[0] += 45  # the default 60-second lifetime is still running
        http.get("https://reg.example/v2/a/b/blobs/x")
    assert registry.issued == 1


def test_mount_asks_for_pull_on_the_source() -> None:
    registry = Registry()
    auth = RegistryAuth()
    scopes: list[list[str]] = []

    def record(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            scopes.append(request.url.params.get_list("scope"))
        return registry(request)

    with httpx.Client(transport=httpx.MockTransport(record), auth=auth) as http:
        http.post("https://reg.example/v2/a/b/blobs/uploads/?mount=sha256:x&from=c/d")
    assert scopes == [["repository:a/b:pull", "repository:c/d:pull"]]


def test_credentials_are_hidden_in_repr() -> None:
    assert "pw" not in repr(Credentials("me", "pw"))
