"""Ranged reads straight from the socket, against a real Distribution."""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx
import pytest

from ocitypes import Digest, mediatypes
from registry.client import Pusher, connect
from registry.client.direct import DirectReader, ReadInto, Stale, Target
from registry.errors import RemoteDigestMismatch
from registry.reference import Reference

from .distribution import Proxy, ProxyHandler, Registry
from .fakes import MemoryBlobs
from .test_client_distribution import make_model


def _blob(registry: Registry, size: int) -> tuple[str, bytes, Digest]:
    weights = os.urandom(size)
    source = MemoryBlobs()
    manifest = make_model(source, weights)
    target = Reference(registry.host, "direct/model", "latest")
    with connect(target) as transport:
        Pusher(transport, source).push(target, manifest, mediatypes.MANIFEST)
    digest = Digest.of(weights)
    return f"{registry.url}/v2/direct/model/blobs/{digest}", weights, digest


def _target(url: str) -> Target:
    with httpx.Client() as client:
        response = client.get(url, headers={"Range": "bytes=0-0"})
        assert response.status_code == 206
        return Target.of(response)


def _taker(got: bytearray, start: int, step: int = 7_000) -> Callable[[ReadInto], int]:
    """Reads an answer into ``got`` from ``start``, ``step`` bytes a call, to its end."""

    def take(readinto: ReadInto) -> int:
        offset, buffer = start, memoryview(bytearray(step))
        while count := readinto(buffer):
            got[offset:offset + count] = buffer[:count]
            offset += count
        return offset

    return take


def test_ranges_arrive_over_one_kept_connection(distribution: Registry) -> None:
    url, weights, digest = _blob(distribution, 300_000)
    reader = DirectReader(_target(url), timeout=10, host=distribution.host)
    got = bytearray(len(weights))
    headers: list[str] = []
    assert reader.read(1000, 200_000, _taker(got, 1000), headers.append) == 200_000
    assert reader.read(200_000, len(weights), _taker(got, 200_000),
                       headers.append) == len(weights)
    assert len(reader._all) == 1  # both reads over one kept-alive connection
    reader.close()
    assert got[1000:] == weights[1000:]
    assert len(headers) == 2 and headers[0] == str(digest)
    assert reader._all == []


def test_an_answer_read_only_in_part_drops_its_connection(distribution: Registry) -> None:
    url, weights, _ = _blob(distribution, 300_000)
    reader = DirectReader(_target(url), timeout=10, host=distribution.host)

    def take_some(readinto: ReadInto) -> int:
        return 100 + readinto(memoryview(bytearray(1000)))

    assert reader.read(100, len(weights), take_some, lambda h: None) == 1100
    assert reader._all == []  # the rest of the answer is never drained: the connection goes
    got = bytearray(len(weights))
    assert reader.read(0, len(weights), _taker(got, 0), lambda h: None) == len(weights)
    reader.close()
    assert got == weights


def test_an_answer_that_breaks_off_ends_where_its_bytes_end(distribution: Registry) -> None:
    url, weights, _ = _blob(distribution, 50_000)
    proxy = Proxy(distribution.host)
    try:
        target = _target(url.replace(distribution.host, proxy.host))

        def truncated(handler: ProxyHandler) -> bool:
            handler.answer(206, weights[:1000], {"Content-Range": f"bytes 0-49999/{len(weights)}"},
                           length=50_000)
            return True

        proxy.fault = truncated
        reader = DirectReader(target, timeout=10, host=proxy.host)
        got = bytearray(len(weights))
        assert reader.read(0, 50_000, _taker(got, 0), lambda h: None) == 1000
        assert got[:1000] == weights[:1000]  # the caller sees the answer fell short
        assert reader._all == []
    finally:
        proxy.stop()


def test_an_answer_that_is_not_the_range_asked_for_is_stale(distribution: Registry) -> None:
    url, weights, _ = _blob(distribution, 50_000)
    proxy = Proxy(distribution.host)
    try:
        target = _target(url.replace(distribution.host, proxy.host))

        def whole(handler: ProxyHandler) -> bool:
            handler.answer(200, weights, {})
            return True

        proxy.fault = whole
        reader = DirectReader(target, timeout=10, host=proxy.host)
        with pytest.raises(Stale):
            reader.read(100, 200, _taker(bytearray(50_000), 100), lambda h: None)
        assert reader._all == []  # a whole blob is never drained: the connection goes
    finally:
        proxy.stop()


def test_a_digest_check_that_fails_drops_the_connection(distribution: Registry) -> None:
    url, _, _ = _blob(distribution, 50_000)
    reader = DirectReader(_target(url), timeout=10, host=distribution.host)

    def refuse(header: str) -> None:
        raise RemoteDigestMismatch("blob", "sha256:" + "0" * 64, header)

    with pytest.raises(RemoteDigestMismatch):
        reader.read(0, 50_000, _taker(bytearray(50_000), 0), refuse)
    assert reader._all == []
