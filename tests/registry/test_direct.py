"""Ranged reads straight from the socket, against a real Distribution."""

from __future__ import annotations

import os
import threading

import httpx
import pytest

from ocitypes import Digest, mediatypes
from registry.client import Pusher, connect
from registry.client.direct import DirectReader, Stale, Target
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


def test_ranges_arrive_through_one_reused_buffer_and_one_kept_connection(
    distribution: Registry,
) -> None:
    url, weights, digest = _blob(distribution, 300_000)
    reader = DirectReader(_target(url), timeout=10, host=distribution.host)
    got = bytearray(len(weights))
    buffer = memoryview(bytearray(7_000))
    buffers: set[int] = set()

    def sink(offset: int, view: memoryview) -> None:
        buffers.add(id(view.obj))
        got[offset: offset + len(view)] = view

    headers: list[str] = []
    stop = threading.Event()
    assert reader.read(1000, 200_000, buffer, sink, stop, headers.append) == 200_000
    assert reader.read(200_000, len(weights), buffer, sink, stop, headers.append) == len(weights)
    assert len(reader._all) == 1  # both reads over one kept-alive connection
    reader.close()
    assert got[1000:] == weights[1000:]
    assert buffers == {id(buffer.obj)}
    assert len(headers) == 2 and headers[0] == str(digest)
    assert reader._all == []


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
            reader.read(100, 200, memoryview(bytearray(64)), lambda o, v: None,
                        threading.Event(), lambda h: None)
        assert reader._all == []  # a whole blob is never drained: the connection goes
    finally:
        proxy.stop()


def test_a_digest_check_that_fails_drops_the_connection(distribution: Registry) -> None:
    url, _, _ = _blob(distribution, 50_000)
    reader = DirectReader(_target(url), timeout=10, host=distribution.host)

    def refuse(header: str) -> None:
        raise RemoteDigestMismatch("blob", "sha256:" + "0" * 64, header)

    with pytest.raises(RemoteDigestMismatch):
        reader.read(0, 50_000, memoryview(bytearray(4096)), lambda o, v: None,
                    threading.Event(), refuse)
    assert reader._all == []
