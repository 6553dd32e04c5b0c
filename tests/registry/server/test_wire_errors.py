"""What a client reads when the store lacks what it asked for: the spec's words and the
subject, never advice meant for the server's own user (``see 'lamina list'``)."""

from __future__ import annotations

import pytest

from ocitypes import Digest
from registry.errors import ErrorCode
from registry.server.common import translate
from store.errors import BlobNotFound, DigestMismatch, ModelNotFound

DIGEST = str(Digest.of(b"x"))


@pytest.mark.parametrize(("error", "code", "message"), [
    (ModelNotFound("team/m:v1"), ErrorCode.MANIFEST_UNKNOWN,
     "manifest unknown to registry: team/m:v1"),
    (ModelNotFound("zz", "no such repository"), ErrorCode.MANIFEST_UNKNOWN,
     "manifest unknown to registry: zz (no such repository)"),
    (BlobNotFound(DIGEST), ErrorCode.BLOB_UNKNOWN, f"blob unknown to registry: {DIGEST}"),
])
def test_missing_things_are_named_in_the_specs_words(
        error: Exception, code: ErrorCode, message: str) -> None:
    answer = translate(error)
    assert (answer.code, answer.status, str(answer)) == (code, 404, message)
    assert "lamina" not in answer.to_body().decode()


def test_other_store_errors_keep_their_text() -> None:
    answer = translate(DigestMismatch(DIGEST, str(Digest.of(b"y"))))
    assert answer.code == ErrorCode.DIGEST_INVALID and "digest mismatch" in str(answer)
