"""Serving the app with granian: its ``pathsend`` sends blob files with ``sendfile``, which is
what makes blob GETs as fast as Distribution's (see ``bench/serve_blobs.py``).

One worker process: tokens, nonces and the referrers cache live in memory, and a single worker
already saturates a disk or a 10 Gb/s link with zero-copy sends.
"""

from __future__ import annotations

from pathlib import Path

from starlette.types import ASGIApp


def serve(app: ASGIApp, *, host: str, port: int, tls_cert: Path | None = None,
          tls_key: Path | None = None, access_log: bool = False) -> None:
    """Serve ``app`` until interrupted (Ctrl-C or SIGTERM)."""
    from granian.constants import Interfaces
    from granian.server.mp import MPServer

    server = MPServer(
        "lamina.serve", address=host, port=port, interface=Interfaces.ASGI, workers=1,
        websockets=False, log_access=access_log, ssl_cert=tls_cert, ssl_key=tls_key,
    )
    # The worker is forked from this process, so it inherits the app object itself.
    server.serve(target_loader=lambda *args, **kwargs: app, wrap_loader=False)
