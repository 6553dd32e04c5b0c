"""Ranged blob reads straight from the socket into the store's buffers.

httpx hands a body out as fresh 64 KiB ``bytes`` after h11 has copied each piece twice; at the
speed of a local registry that costs more CPU than hashing the blob. So for the ranged parts of
a large blob lamina asks httpx once (auth challenges, redirects and retries stay its business)
and then sends the same GET — to the URL httpx ended at, with the headers httpx sent there —
over ``http.client`` connections of its own, one per thread, and hands the answer's
``readinto`` to whoever takes the bytes. Socket reads release the GIL, so the bytes arrive
while other threads write and hash.

An answer other than 206 (a token or a signed URL that expired, a registry that stopped
honouring ``Range``) raises :class:`Stale`: the caller asks httpx again.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from ..errors import TransportError

__all__ = ["DirectReader", "Stale", "Target"]

# Headers http.client writes itself, or that describe one request and not the next.
_OWN_HEADERS = frozenset({"host", "range", "content-length", "connection", "accept-encoding",
                          "transfer-encoding"})


class Stale(Exception):
    """The direct route no longer answers with the part asked for; go through httpx again."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a blob's bytes come from: the URL an httpx GET ended at, and the headers it sent
    there (Authorization only if httpx sent it to that host)."""

    url: httpx.URL
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, response: httpx.Response) -> Target:
        sent = response.request.headers
        kept = tuple((k, v) for k, v in sent.multi_items() if k.lower() not in _OWN_HEADERS)
        return cls(response.url, kept)


ReadInto = Callable[[memoryview], int]
"""Fills the view from its start with the answer's next bytes; how many (0 at its end)."""


class DirectReader:
    """``http.client`` connections to one :class:`Target`, one per thread, kept alive."""

    def __init__(self, target: Target, *, timeout: float, host: str) -> None:
        self.target = target
        self._timeout = timeout
        self._host = host  # the registry's name, for messages
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None

    def read(self, start: int, end: int, take: Callable[[ReadInto], int],
             check: Callable[[str], None]) -> int:
        """GET ``[start, end)`` and hand the answer's ``readinto`` to ``take``, which reads
        what it wants and returns the offset it reached; that is returned. ``check`` sees the
        answer's ``Docker-Content-Digest`` first. A failed read raises
        :class:`~registry.errors.TransportError`."""
        connection = self._connection()
        try:
            with self._network():
                response = self._ask(connection, start, end)
            check(response.getheader("Docker-Content-Digest", ""))

            def readinto(view: memoryview) -> int:
                with self._network():
                    return response.readinto(view)

            reached = take(readinto)
        except BaseException:
            self._drop(connection)
            raise
        if reached < end or not response.isclosed():  # cut short: the connection is spoilt
            self._drop(connection)
        return reached

    @contextmanager
    def _network(self) -> Iterator[None]:
        """Raise a socket's or http.client's failure as a :class:`TransportError`."""
        try:
            yield
        except (OSError, http.client.HTTPException) as exc:
            raise _translate(exc, self._host) from exc

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()

    def interrupt(self) -> None:
        """End every read under way at once, as if the answer broke off: a pull told to stop
        must not wait out the read timeout of a registry that stopped sending. Shutting the
        socket down wakes a blocked read; closing it would not, and would free its number."""
        with self._lock:
            connections = list(self._all)
        for connection in connections:
            if connection.sock is not None:
                with contextlib.suppress(OSError):  # not connected, or closed meanwhile
                    connection.sock.shutdown(socket.SHUT_RDWR)

    def _ask(self, connection: http.client.HTTPConnection, start: int,
             end: int) -> http.client.HTTPResponse:
        url = self.target.url
        path = url.raw_path.decode("ascii")
        headers = dict(self.target.headers)
        headers["Range"] = f"bytes={start}-{end - 1}"
        headers["Accept-Encoding"] = "identity"
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        if response.status != 206 or not response.getheader("Content-Range", "").startswith(
            f"bytes {start}-"
        ):
            self._drop(connection)  # its body may be the whole blob: never drain it
            raise Stale(f"{self._host} answered {response.status} to a ranged GET")
        return response

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            url = self.target.url
            if url.scheme == "https":
                if self._context is None:
                    self._context = httpx.create_ssl_context()
                connection = http.client.HTTPSConnection(
                    url.host, url.port, timeout=self._timeout, context=self._context
                )
            else:
                connection = http.client.HTTPConnection(url.host, url.port,
                                                        timeout=self._timeout)
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        self._local.connection = None
        with self._lock:
            if connection in self._all:
                self._all.remove(connection)


def _translate(error: Exception, host: str) -> TransportError:
    if isinstance(error, TimeoutError):
        return TransportError(f"{host} stopped sending data (read timed out)")
    if isinstance(error, ConnectionRefusedError):
        return TransportError(f"cannot reach {host}: {error}")
    return TransportError(f"lost the connection to {host} while reading: "
                          f"{error or type(error).__name__}")
