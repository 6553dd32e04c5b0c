"""A real server process on a loopback port: the app over file-backed fakes, served by granian
as ``lamina serve`` serves it. ``python -m tests.registry.server.live PORT ROOT [AUTH-ARGS]``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(command: list[str], port: int, *, scheme: str = "http",
            env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``command`` (a server on ``port``), wait for ``/v2/``, stop it afterwards."""
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**(env or os.environ), "PYTHONPATH": str(ROOT)})
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/v2/", timeout=1, verify=False)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    _, err = process.communicate(timeout=5)
                    raise RuntimeError(f"server did not start: {err.decode()[-2000:]}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def main(argv: list[str]) -> None:
    from registry.server import Access, Auth, Backend, Htpasswd, create_app
    from registry.server.credentials import AuthorizedKeys
    from registry.server.run import serve
    from tests.registry.server.fakes import FileBlobs, MemoryManifests

    port, root = int(argv[0]), Path(argv[1])
    blobs = FileBlobs(root)
    auth = Auth()
    options = dict(zip(argv[2::2], argv[3::2], strict=True))
    if options:
        auth = Auth(Access.signed_in(anonymous_pull="--anonymous-pull" in options),
                    htpasswd=Htpasswd.load(Path(options["--htpasswd"]))
                    if "--htpasswd" in options else None,
                    keys=AuthorizedKeys.load(Path(options["--authorized-keys"]))
                    if "--authorized-keys" in options else None)
    serve(create_app(Backend(blobs, blobs, MemoryManifests(blobs)), auth),
          host="127.0.0.1", port=port)


if __name__ == "__main__":
    main(sys.argv[1:])
