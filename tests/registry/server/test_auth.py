"""Sign-in, tokens, access rules and signed blob URLs, in process with a clock of our own."""

from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import pytest

from ocitypes import Digest
from registry.server import (
    Access,
    Auth,
    Backend,
    CredentialsError,
    Htpasswd,
    Settings,
    Signer,
    create_app,
)
from registry.server.access import load

from .conftest import LAYER, REPO, Client, Registry
from .fakes import MemoryBlobs, MemoryManifests

HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4))
NOW = [1_000_000.0]


def basic(user: str, password: str = "pw") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def guarded(settings: Settings | None = None, *, anonymous_pull: bool = False) -> Registry:
    blobs = MemoryBlobs()
    manifests = MemoryManifests(blobs)
    blobs.put(LAYER)
    auth = Auth(Access.signed_in(anonymous_pull=anonymous_pull),
                htpasswd=Htpasswd({"alice": HASH}), signer=Signer(b"k" * 32, clock=lambda: NOW[0]))
    return Registry(Client(create_app(Backend(blobs, blobs, manifests), auth, settings)),
                    blobs, manifests)


BLOB = f"/v2/{REPO}/blobs/{Digest.of(LAYER)}"


def test_the_base_endpoint_challenges_anonymous_callers() -> None:
    registry = guarded(anonymous_pull=True)
    response = registry.client.get("/v2/")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="http://registry.test:5000/v2/token",service="registry.test:5000"')
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert registry.client.get("/v2/", headers=basic("alice")).status_code == 200
    assert registry.client.get(BLOB).status_code == 200  # anonymous pull is allowed


def test_bad_credentials_are_401() -> None:
    registry = guarded()
    for headers in (basic("alice", "wrong"), basic("mallory"), {"Authorization": "Bearer x.y"},
                    {"Authorization": "Basic !!!"}, {"Authorization": "Negotiate abc"}):
        assert registry.client.get(BLOB, headers=headers).status_code == 401, headers


def test_tokens_expire() -> None:
    registry = guarded()
    token = registry.client.get("/v2/token", params={"scope": f"repository:{REPO}:pull"},
                                headers=basic("alice")).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert registry.client.get(BLOB, headers=bearer).status_code == 200
    NOW[0] += 301
    assert registry.client.get(BLOB, headers=bearer).status_code == 401


def test_an_anonymous_token_grants_only_what_anonymous_may_do() -> None:
    registry = guarded(anonymous_pull=True)
    token = registry.client.get(
        "/v2/token", params={"scope": f"repository:{REPO}:pull,push"}).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert registry.client.get(BLOB, headers=bearer).status_code == 200
    assert registry.client.post(f"/v2/{REPO}/blobs/uploads/", headers=bearer).status_code == 401
    assert registry.blobs.sessions == {}


def test_signed_urls_serve_ranges_without_credentials_until_they_expire() -> None:
    registry = guarded()
    response = registry.client.get(BLOB, headers=basic("alice"))
    direct = response.headers["location"]
    assert direct.startswith(f"http://registry.test:5000{BLOB}?expires=")
    ranged = registry.client.get(direct, headers={"Range": "bytes=0-9"})
    assert (ranged.status_code, ranged.content) == (206, LAYER[:10])
    other = direct.replace(str(Digest.of(LAYER)), str(Digest.of(b"x")))
    assert registry.client.get(other).status_code == 403
    NOW[0] += 3601
    assert registry.client.get(direct).status_code == 403


def test_redirect_host_answers_blob_gets_with_a_signed_307() -> None:
    registry = guarded(Settings(redirect_host="cdn.test"))
    response = registry.client.get(BLOB, headers=basic("alice"))
    assert response.status_code == 307
    target = response.headers["location"]
    assert target.startswith(f"http://cdn.test:5000{BLOB}?expires=")
    assert registry.client.get(target.replace("cdn.test", "registry.test")).content == LAYER
    head = registry.client.head(BLOB, headers=basic("alice"))
    assert head.status_code == 200 and head.headers["content-length"] == str(len(LAYER))


def test_access_files(tmp_path: Path) -> None:
    path = tmp_path / "access"
    path.write_text("# comment\nlibrary/*  *  alice,bob\n@owner/*  +  @owner  # mine\n")
    access = Access.signed_in(anonymous_pull=False).with_file(path)
    assert access.allows(None, "library/x", "pull")
    assert access.allows("bob", "library/x", "push") and not access.allows("carol", "library/x",
                                                                            "push")
    assert access.allows("carol", "carol/x", "push") and not access.allows("carol", "dave/x",
                                                                            "push")
    assert not access.allows(None, "carol/x", "pull")
    for bad in ("library/* *\n", "x * @someone\n", "x ** -\n"):
        path.write_text(bad)
        with pytest.raises(CredentialsError, match=":1: expected PATTERN PULL PUSH"):
            load(path)


def test_htpasswd_files(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{HASH.decode()}\n\n# note\n")
    users = Htpasswd.load(path)
    assert users.check("alice", "pw") and not users.check("alice", "p") \
        and not users.check("bob", "pw")
    path.write_text("alice:{SHA}abc\n")
    with pytest.raises(CredentialsError, match="htpasswd:1: expected user:bcrypt-hash"):
        Htpasswd.load(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(CredentialsError, match="cannot read it"):
        Htpasswd.load(path)
