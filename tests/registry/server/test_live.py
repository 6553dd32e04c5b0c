"""A real server process (granian, as ``lamina serve`` runs it) on a loopback port: raw HTTP,
zero-copy GETs, what httpx cannot send (a literal ``..``), Ollama's pull, push and key auth."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ocitypes import Digest, mediatypes

from .conftest import manifest_bytes
from .live import free_port, running
from .ollama import Ollama, OllamaError, public_line

CONFIG = b'{"model_format":"gguf"}'
WEIGHTS = os.urandom(1_000_003)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("blobs")
    port = free_port()
    command = [sys.executable, "-m", "tests.registry.server.live", str(port), str(root)]
    with running(command, port) as url:
        yield url


def push_blob(url: str, repository: str, data: bytes) -> str:
    digest = str(Digest.of(data))
    response = httpx.post(f"{url}/v2/{repository}/blobs/uploads/?digest={digest}", content=data)
    assert response.status_code == 201, response.text
    return digest


def test_a_large_blob_round_trips_through_granian(server: str) -> None:
    digest = push_blob(server, "live/model", WEIGHTS)
    got = httpx.get(f"{server}/v2/live/model/blobs/{digest}")
    assert got.status_code == 200
    assert got.content == WEIGHTS
    assert got.headers["content-length"] == str(len(WEIGHTS))
    assert got.headers["docker-content-digest"] == digest
    ranged = httpx.get(f"{server}/v2/live/model/blobs/{digest}",
                       headers={"Range": "bytes=999999-"})
    assert (ranged.status_code, ranged.content) == (206, WEIGHTS[999999:])


def test_a_literal_dot_dot_in_the_path_is_refused(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    for path in ("/v2/library/../../etc/manifests/latest",
                 "/v2/a/blobs/uploads/../../../../etc/passwd",
                 f"/v2/a/blobs/..%2f..%2f{'a' * 64}"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 500, (path, answer[:200])


def test_malformed_requests_are_4xx_never_5xx(server: str) -> None:
    repo = f"{server}/v2/live/bad"
    cases = [
        ("PUT", f"{repo}/manifests/v1", b"\x00" * 100, {"Content-Type": mediatypes.OCI_MANIFEST}),
        ("PUT", f"{repo}/manifests/v1", b"{" * 5000, {}),
        ("PUT", f"{repo}/manifests/v1", b"x" * (5 << 20), {}),
        ("PATCH", f"{repo}/blobs/uploads/{'x' * 40}", b"data", {"Content-Range": "0-3"}),
        ("POST", f"{repo}/blobs/uploads/?digest=sha256:bad", b"data", {}),
        ("POST", f"{repo}/blobs/uploads/?mount=nope&from=live/model", b"", {}),
        ("GET", f"{repo}/blobs/{'sha256:' + 'A' * 64}", b"", {}),
        ("GET", f"{server}/v2/_catalog?n=-1", b"", {}),
        ("GET", f"{repo}/tags/list?n=99999999999999999999999", b"", {}),
        ("PUT", f"{repo}/manifests/{'t' * 200}", b"{}", {}),
    ]
    for method, url, body, headers in cases:
        response = httpx.request(method, url, content=body, headers=headers)
        assert 400 <= response.status_code < 500, (method, url, response.text)
        assert "errors" in response.json()


def ollama_model(tag_seed: bytes = b"") -> tuple[bytes, dict[str, bytes]]:
    layers = (WEIGHTS, b"{{ .Prompt }}" + tag_seed)
    manifest = manifest_bytes(CONFIG, layers)
    blobs = {str(Digest.of(b)): b for b in (CONFIG, *layers)}
    return manifest, blobs


def test_ollama_push_then_pull(server: str) -> None:
    manifest, blobs = ollama_model()
    with Ollama(server, Ed25519PrivateKey.generate(), part_size=300_000) as client:
        client.push("library/tiny", "latest", manifest, blobs)
    with Ollama(server, Ed25519PrivateKey.generate(), part_size=65_536) as client:
        pulled, got = client.pull("library/tiny", "latest")
    assert json.loads(pulled) == json.loads(manifest)
    assert pulled == json.dumps(json.loads(manifest), separators=(",", ":")).encode()
    assert got == blobs


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Ed25519PrivateKey]]:
    """A server that only lets the listed Ollama key in (no anonymous pull either)."""
    root = tmp_path_factory.mktemp("keyed")
    key = Ed25519PrivateKey.generate()
    keys = root / "authorized_keys"
    keys.write_text(public_line(key) + " alice@laptop\n")
    port = free_port()
    command = [sys.executable, "-m", "tests.registry.server.live", str(port), str(root / "b"),
               "--authorized-keys", str(keys)]
    (root / "b").mkdir()
    with running(command, port) as url:
        yield url, key


def test_ollama_with_its_key(keyed: tuple[str, Ed25519PrivateKey]) -> None:
    url, key = keyed
    manifest, blobs = ollama_model(b"keyed")
    with Ollama(url, key, part_size=400_000) as client:
        client.push("alice/tiny", "v1", manifest, blobs)
    with Ollama(url, key, part_size=250_000) as client:
        _, got = client.pull("alice/tiny", "v1")
    assert got == blobs


def test_an_unlisted_key_may_not_push_or_pull(keyed: tuple[str, Ed25519PrivateKey]) -> None:
    url, _ = keyed
    manifest, blobs = ollama_model(b"stranger")
    with Ollama(url, Ed25519PrivateKey.generate()) as stranger:
        with pytest.raises(OllamaError, match="not authorized"):
            stranger.push("alice/tiny", "v2", manifest, blobs)
        with pytest.raises(OllamaError, match="not authorized"):
            stranger.pull("alice/tiny", "v1")
    assert httpx.get(f"{url}/v2/alice/tiny/manifests/v2").status_code == 401


def test_the_direct_url_is_signed_and_expires_nothing_else(
        keyed: tuple[str, Ed25519PrivateKey]) -> None:
    url, key = keyed
    manifest, blobs = ollama_model(b"signed")
    digest = str(Digest.of(WEIGHTS))
    blob_url = f"{url}/v2/alice/signed/blobs/{digest}"
    with Ollama(url, key) as client:
        client.push("alice/signed", "v1", manifest, blobs)
        direct = client._direct_url(blob_url)
    assert httpx.get(blob_url).status_code == 401  # no credentials, no signature
    assert "signature=" in direct
    assert hashlib.sha256(httpx.get(direct).content).hexdigest() == digest.removeprefix(
        "sha256:")
    tampered = direct.replace("alice/signed", "alice/other")
    assert httpx.get(tampered).status_code == 403
    forged = direct[:-4] + ("AAAA" if not direct.endswith("AAAA") else "BBBB")
    assert httpx.get(forged).status_code == 403


def test_a_replayed_token_request_is_refused(keyed: tuple[str, Ed25519PrivateKey]) -> None:
    url, key = keyed
    seen: list[httpx.Request] = []
    with Ollama(url, key) as client:
        client.http.event_hooks["request"].append(seen.append)
        client.pull("alice/tiny", "v1")
    token_request = next(r for r in seen if r.url.path == "/v2/token")
    again = httpx.get(str(token_request.url),
                      headers={"Authorization": token_request.headers["authorization"]})
    assert again.status_code == 401
