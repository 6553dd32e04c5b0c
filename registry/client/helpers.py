"""Docker credential helpers, run as Docker runs them.

``~/.docker/config.json`` may name a helper for every registry (``credsStore``) or per registry
(``credHelpers``); the secrets then live in the system keychain, not in the file. A helper is
the program ``docker-credential-<name>`` on ``PATH``: ``get`` reads the server address on
stdin and writes ``{"ServerURL", "Username", "Secret"}`` on stdout, or fails with
``credentials not found``. A helper that is missing, fails, hangs past the timeout or answers
nonsense gives no credentials, and the caller falls back to the file's ``auths``; what it wrote
is never repeated anywhere, since it may hold the secret.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess

from .auth import Credentials

__all__ = ["HELPER_TIMEOUT", "helper_credentials", "server_address"]

HELPER_TIMEOUT = 15.0
"""Seconds a helper may take (a keychain may ask the user to unlock it)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a program name's suffix, never a path
_DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_IDENTITY_TOKEN = "<token>"  # Username of an OAuth refresh token, which Basic cannot carry


def server_address(host: str) -> str:
    """What Docker passes a helper for ``host``: Docker Hub under its historical URL."""
    return "https://index.docker.io/v1/" if host.lower() in _DOCKER_HUB else host


def helper_credentials(helper: str, server: str, *,
                       timeout: float = HELPER_TIMEOUT) -> Credentials | None:
    """What ``docker-credential-<helper> get`` knows for ``server``, or None."""
    if not _NAME.fullmatch(helper):
        return None
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        return None
    output = _run(program, server, timeout)
    if output is None:
        return None
    try:
        answer = json.loads(output)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    username, secret = answer.get("Username"), answer.get("Secret")
    if not (isinstance(username, str) and isinstance(secret, str) and username and secret):
        return None
    if username == _IDENTITY_TOKEN:
        return None
    return Credentials(username, secret)


def _run(program: str, server: str, timeout: float) -> bytes | None:
    """The helper's stdout when it succeeds in time. It runs in a process group of its own so
    that a timeout ends it and anything it started (which would hold its pipes open)."""
    try:
        process = subprocess.Popen(
            [program, "get"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
    except OSError:
        return None
    try:
        output, _ = process.communicate(server.encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None
    return output if process.returncode == 0 else None
