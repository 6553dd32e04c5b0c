"""Serving the app with granian: its ``pathsend`` sends blob files with ``sendfile``, which is
what makes blob GETs as fast as Distribution's (see ``bench/serve_blobs.py``).

One worker process: tokens, nonces and the referrers cache live in memory, and a single worker
already saturates a disk or a 10 Gb/s link with zero-copy sends.
"""

from __future__ import annotations

from pathlib import Path

from starlette.types import ASGIApp

HTTP1_BUFFER = 1 << 20
"""Most bytes granian reads from a connection at once, and so the largest body chunk it hands
the app: a pushed blob arrives in fewer pieces than with its 408 KiB default, each a trip
through the event loop that costs CPU the hashing needs (``bench/serve_blobs.py``). It also
bounds what a response queues per connection, which 16 slow pulls at 2 MiB felt in memory, and
a request's headers (Distribution allows 1 MiB too)."""


def serve(app: ASGIApp, *, host: str, port: int, tls_cert: Path | None = None,
          tls_key: Path | None = None, access_log: bool = False, quiet: bool = False) -> None:
    """Serve ``app`` until interrupted (Ctrl-C or SIGTERM); logs go to stderr, ``quiet``
    keeps only warnings and errors."""
    check_free(host, port)
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server.mp import MPServer

    server = MPServer(
        "lamina.serve", address=host, port=port, interface=Interfaces.ASGI, workers=1,
        websockets=False, log_access=access_log, ssl_cert=tls_cert, ssl_key=tls_key,
        log_level=LogLevels.warning if quiet else LogLevels.info, log_dictconfig=_LOGGING,
        http1_settings=HTTP1Settings(max_buffer_size=HTTP1_BUFFER),
    )
    # The worker is forked from this process, so it inherits the app object itself.
    server.serve(target_loader=lambda *args, **kwargs: app, wrap_loader=False)


class AddressInUse(OSError):
    """Another process listens on the address already."""


def check_free(host: str, port: int) -> None:
    """Refuse a port something else holds: granian binds with SO_REUSEPORT, so a second
    server on one port would start and silently share the connections."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise AddressInUse(exc.errno, f"cannot listen on {host}:{port} ({exc.strerror}); "
                                          "choose another --port or --host") from exc


# granian's own logging, on stderr: stdout is for results (``lamina serve --json``).
_LOGGING = {
    "handlers": {
        "console": {"formatter": "generic", "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr"},
        "access": {"formatter": "access", "class": "logging.StreamHandler",
                   "stream": "ext://sys.stderr"},
    },
}
