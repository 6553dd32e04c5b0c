"""Registry references: the distribution-spec grammar, and which scheme to speak."""

from __future__ import annotations

import pytest

from ocitypes import Digest
from registry.reference import InvalidReference, Reference, is_loopback

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("localhost:5000/library/model", "localhost:5000", "library/model", "latest", None),
        ("ghcr.io/org/team/model:v1.2", "ghcr.io", "org/team/model", "v1.2", None),
        (f"r.example/ns/m@{DIGEST}", "r.example", "ns/m", None, DIGEST),
        (f"r.example/ns/m:t@{DIGEST}", "r.example", "ns/m", "t", DIGEST),
        ("[::1]:8080/a/b:c", "[::1]:8080", "a/b", "c", None),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str | None,
               digest: str | None) -> None:
    reference = Reference.parse(text)
    assert (reference.registry, reference.repository, reference.tag) == (registry, repository, tag)
    assert reference.digest == (Digest.parse(digest) if digest else None)
    assert str(reference) == text if ":" in text.split("/")[-1] or "@" in text else True


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("model", "expected host/repository"),
        ("host/Upper/Case", "must be lower-case"),
        ("host/ns/m:" + "t" * 129, "not a valid tag"),
        ("host/ns/m:-bad", "not a valid tag"),
        ("ho st/ns/m", "not a host name"),
        ("host/ns//m", "must be lower-case"),
    ],
)
def test_invalid(text: str, problem: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        Reference.parse(text)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("localhost:5000", True), ("127.0.0.1:80", True), ("127.8.9.1", True),
     ("[::1]:5000", True), ("registry.example:443", False), ("10.0.0.1", False),
     ("ghcr.io", False)],
)
def test_loopback_hosts_speak_http(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    reference = Reference(host, "ns/m", "t")
    assert reference.base_url == f"{'http' if loopback else 'https'}://{host}"
    assert Reference(host, "ns/m", "t", insecure=True).scheme == "http"


def test_a_missing_registry_fails_the_run_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from .distribution import registry_binary

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="not installed"):
        registry_binary()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        registry_binary()
