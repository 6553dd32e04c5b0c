"""Digests are strict: ``sha256:`` and 64 lower-case hex digits, nothing else."""

from __future__ import annotations

import hashlib

import pytest

from ocitypes import Digest, InvalidDigest

HEX = hashlib.sha256(b"lamina").hexdigest()


def test_parse_and_str_round_trip() -> None:
    digest = Digest.parse(f"sha256:{HEX}")
    assert digest.hex == HEX
    assert str(digest) == f"sha256:{HEX}"
    assert digest.short == HEX[:12]
    assert Digest.of(b"lamina") == digest


@pytest.mark.parametrize(
    "text",
    [
        f"sha256-{HEX}",           # the file spelling belongs to the store's layout only
        f"sha256:{HEX.upper()}",
        f" sha256:{HEX}",
        f"sha256:{HEX} ",
        f"sha256:{HEX}\n",
        f"SHA256:{HEX}",
        f"sha512:{HEX}",
        f"sha256:{HEX[:-1]}",
        f"sha256:{HEX}0",
        HEX,
        "",
        f"sha256:{HEX[:-1]}g",
    ],
)
def test_parse_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(text)


@pytest.mark.parametrize("hex_text", [HEX.upper(), HEX[:10], "../" + HEX[3:], ""])
def test_constructor_checks_its_hex(hex_text: str) -> None:
    with pytest.raises(InvalidDigest):
        Digest(hex_text)


def test_invalid_digest_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="lower-case hex"):
        Digest.parse("nope")
