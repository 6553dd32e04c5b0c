"""The shared error set: one serializer for the server, one parser for the client."""

from __future__ import annotations

import json

import pytest

from ocitypes import DigestInvalid
from registry.errors import (
    Denied,
    ErrorCode,
    NotFound,
    RegistryError,
    RemoteDigestMismatch,
    TransportError,
    Unauthorized,
    from_response,
)


def test_every_code_has_a_status_and_text() -> None:
    for code in ErrorCode:
        assert 400 <= code.status <= 599
        assert code.text
    assert ErrorCode.BLOB_UNKNOWN.status == 404
    assert ErrorCode.DIGEST_INVALID.status == 400
    assert ErrorCode.BLOB_UPLOAD_UNKNOWN is not ErrorCode.BLOB_UNKNOWN


def test_body_is_the_spec_shape() -> None:
    error = RegistryError.of(ErrorCode.MANIFEST_BLOB_UNKNOWN, detail={"digest": "sha256:ab"})
    assert error.status == 400
    assert json.loads(error.to_body()) == {
        "errors": [
            {
                "code": "MANIFEST_BLOB_UNKNOWN",
                "message": "manifest references a manifest or blob unknown to registry",
                "detail": {"digest": "sha256:ab"},
            }
        ]
    }


def test_of_picks_the_kind_from_the_status() -> None:
    assert isinstance(RegistryError.of(ErrorCode.MANIFEST_UNKNOWN), NotFound)
    assert isinstance(RegistryError.of(ErrorCode.UNAUTHORIZED), Unauthorized)
    assert isinstance(RegistryError.of(ErrorCode.DENIED), Denied)


def test_round_trip_through_a_body() -> None:
    sent = RegistryError.of(ErrorCode.BLOB_UPLOAD_INVALID, "chunk out of order")
    got = from_response(sent.status, sent.to_body())
    assert (got.status, got.code) == (400, ErrorCode.BLOB_UPLOAD_INVALID)
    assert str(got) == "chunk out of order"


@pytest.mark.parametrize(
    "body", [b"", b"<html>oops</html>", b"[1]", b'{"errors": []}', b'{"errors": ["x"]}', b"\xff"]
)
def test_any_body_parses(body: bytes) -> None:
    error = from_response(403, body, "pull library/x")
    assert isinstance(error, Denied)
    assert error.code is ErrorCode.DENIED
    assert str(error) == "pull library/x: requested access to the resource is denied (HTTP 403)"


@pytest.mark.parametrize(("status", "words"), [
    (404, "not found, and the answer is no registry's error: is the host an OCI registry?"),
    (501, "is the host an OCI registry?"),
    (502, "the registry failed on its side; try again later"),
    (400, "an answer without a registry's error"),
])
def test_an_answer_without_a_registry_error_says_what_it_may_mean(status: int,
                                                                  words: str) -> None:
    error = from_response(status, b"<html>Not Found</html>", "pull a/b:c")
    assert error.code is ErrorCode.UNKNOWN and "unknown error" not in str(error)
    assert words in str(error) and str(error).endswith(f"(HTTP {status})")


def test_unknown_code_is_unknown() -> None:
    error = from_response(418, b'{"errors":[{"code":"TEAPOT","message":"short and stout"}]}')
    assert error.code is ErrorCode.UNKNOWN
    assert str(error) == "short and stout"


def test_digest_mismatch_is_both_a_transport_and_a_digest_error() -> None:
    error = RemoteDigestMismatch("blob", "sha256:aa", "sha256:bb")
    assert isinstance(error, TransportError)
    assert isinstance(error, DigestInvalid)
    assert "expected sha256:aa, got sha256:bb" in str(error)
