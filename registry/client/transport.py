"""HTTP to one registry: an httpx client with timeouts, retries with backoff, and one table that
turns httpx's exceptions and error answers into :mod:`registry.errors`.

Retries cover what a second try can fix: a connection refused or reset, a timeout, a 5xx or a
429. A request whose body is a stream is retried only by its caller (who can rewind the file).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from ..errors import RegistryError, TransportError, Unauthorized, from_response
from ..reference import Reference

__all__ = ["Body", "Retry", "Transport", "map_exceptions"]

Body = bytes | Callable[[], Iterable[bytes]] | None
"""A request body: bytes, or a function that makes a fresh stream of it for each attempt."""

USER_AGENT = "lamina"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Retry:
    """How often and how patiently to try again: ``attempts`` in all, sleeping
    ``backoff * 2**n`` seconds (at most ``max_sleep``) between them."""

    attempts: int = 4
    backoff: float = 0.5
    max_sleep: float = 8.0

    def sleeps(self) -> Iterator[float]:
        """The pause before each retry (one fewer than ``attempts``)."""
        for n in range(self.attempts - 1):
            yield min(self.backoff * 2**n, self.max_sleep)


# Most specific first, as httpx maps httpcore's exceptions.
_EXCEPTIONS: tuple[tuple[type[Exception], str], ...] = (
    (httpx.ConnectTimeout, "timed out connecting to {host}"),
    (httpx.ReadTimeout, "{host} stopped sending data (read timed out)"),
    (httpx.WriteTimeout, "timed out sending data to {host}"),
    (httpx.PoolTimeout, "timed out waiting for a connection to {host}"),
    (httpx.ConnectError, "cannot reach {host}: {error}"),
    (httpx.RemoteProtocolError, "{host} broke off its answer: {error}"),
    (httpx.ReadError, "lost the connection to {host} while reading: {error}"),
    (httpx.WriteError, "lost the connection to {host} while sending: {error}"),
    (httpx.TooManyRedirects, "{host} redirected too many times"),
    (httpx.UnsupportedProtocol, "{host}: {error}"),
    (httpx.HTTPError, "request to {host} failed: {error}"),
)


def translate(error: httpx.HTTPError, host: str) -> TransportError:
    """The :class:`TransportError` an httpx failure means, naming the host."""
    for kind, template in _EXCEPTIONS:
        if isinstance(error, kind):
            return TransportError(template.format(host=host, error=error or type(error).__name__))
    return TransportError(f"request to {host} failed: {error}")  # pragma: no cover


@contextmanager
def map_exceptions(host: str) -> Iterator[None]:
    """Raise httpx's failures as :class:`TransportError` (and OS errors on a socket too)."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise translate(exc, host) from exc


class _LazyTLS(httpx.BaseTransport):
    """httpx's https transport, made at the first https request: loading the certificate
    authorities costs about 30 ms, which a plain-http registry (loopback, a LAN, ``lamina
    serve``) never needs, and a pull that meets one (a CDN redirect) pays once."""

    def __init__(self, **options: object) -> None:
        self._options = options
        self._lock = threading.Lock()
        self._transport: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if self._transport is None:
                self._transport = httpx.HTTPTransport(**self._options)  # type: ignore[arg-type]
            transport = self._transport
        return transport.handle_request(request)

    def close(self) -> None:
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


def _retryable(error: Exception) -> bool:
    return isinstance(error, httpx.TransportError) and not isinstance(
        error, httpx.UnsupportedProtocol
    )


class Transport:
    """Requests to one registry host; ``auth`` answers its challenges.

    ``login_hint`` words the advice on a 401 (which ``lamina login`` to run); it is called with
    whether credentials were sent.
    """

    def __init__(
        self,
        reference: Reference,
        *,
        auth: httpx.Auth | None = None,
        retry: Retry | None = None,
        timeout: float = 30.0,
        login_hint: Callable[[bool], str] | None = None,
        has_credentials: bool = False,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.reference = reference
        self.retry = retry or Retry()
        self._login_hint = login_hint
        self._has_credentials = has_credentials
        self._sleep = sleep
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
        self.client = client or httpx.Client(
            auth=auth,
            follow_redirects=True,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT},
            # Plain http never verifies anything; https always goes through the mount.
            transport=httpx.HTTPTransport(verify=False, limits=limits, trust_env=False),
            mounts={"https://": _LazyTLS(limits=limits, trust_env=False)},
            trust_env=False,
        )

    @property
    def host(self) -> str:
        return self.reference.registry

    def url(self, path: str) -> str:
        """The URL of a ``/v2/…`` path on this registry."""
        return f"{self.reference.base_url}{path}"

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        ok: frozenset[int] = frozenset({200}),
        headers: Mapping[str, str] | None = None,
        content: Body = None,
        missing_ok: bool = False,
        retry: bool = True,
    ) -> httpx.Response:
        """Send a request with a replayable body and retries; the answer, body read.

        A status outside ``ok`` raises the matching :class:`RegistryError`, except 404 with
        ``missing_ok`` (returned as is)."""
        with self.stream(method, url, what=what, ok=ok, headers=headers, content=content,
                         missing_ok=missing_ok, retry=retry) as response:
            response.read()
        return response

    @contextmanager
    def stream(
        self,
        method: str,
        url: str,
        *,
        what: str,
        ok: frozenset[int] = frozenset({200}),
        headers: Mapping[str, str] | None = None,
        content: Body = None,
        missing_ok: bool = False,
        retry: bool = True,
    ) -> Iterator[httpx.Response]:
        """Like :meth:`request` but the body is left to read; retries happen before the first
        byte of the body is handed out, never after."""
        response = self._open_with_retries(method, url, headers, content, retry=retry)
        try:
            if response.status_code not in ok and not (
                missing_ok and response.status_code == 404
            ):
                with map_exceptions(self.host):
                    body = response.read()
                raise self.error(response.status_code, body, what)
            with map_exceptions(self.host):
                yield response
        finally:
            response.close()

    def _open_with_retries(
        self, method: str, url: str, headers: Mapping[str, str] | None, content: Body,
        *, retry: bool,
    ) -> httpx.Response:
        sleeps = self.retry.sleeps() if retry else iter(())
        while True:
            body = _Replayable(content) if callable(content) else content
            request = self.client.build_request(method, url, headers=headers, content=body)
            try:
                response = self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                pause = next(sleeps, None) if _retryable(exc) else None
                if pause is None:
                    raise translate(exc, self.host) from exc
                self._sleep(pause)
                continue
            if response.status_code in RETRYABLE_STATUS:
                pause = next(sleeps, None)
                if pause is not None:
                    response.close()
                    self._sleep(_retry_after(response, pause))
                    continue
            return response

    def error(self, status: int, body: bytes, what: str) -> RegistryError:
        """The error an answer means, with login advice on a 401."""
        error = from_response(status, body, what)
        if isinstance(error, Unauthorized) and self._login_hint is not None:
            error.message = f"{error.message}; {self._login_hint(self._has_credentials)}"
        return error


class _Replayable:
    """A streamed body that starts over when iterated again, as httpx does when an auth flow
    resends a request after a 401 (a generator could be read only once)."""

    def __init__(self, make: Callable[[], Iterable[bytes]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._make())


def _retry_after(response: httpx.Response, default: float) -> float:
    """The pause a 429 or 503 asks for in ``Retry-After`` (seconds), capped at a minute."""
    value = response.headers.get("Retry-After", "")
    return min(float(value), 60.0) if value.isdigit() else default
