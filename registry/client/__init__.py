"""The registry client: push and pull over the OCI distribution protocol, with auth and resume.

``connect(reference, credentials)`` gives a :class:`Transport` for one registry host; a
:class:`Puller` or :class:`Pusher` works through it against the store's Protocols.
"""

from __future__ import annotations

from collections.abc import Callable

from ..reference import Reference
from .auth import Credentials, RegistryAuth
from .events import BlobOutcome, NoProgress, Progress, PullResult, PushResult
from .pull import ACCEPT, Puller, fetch_manifest
from .push import Pusher
from .transport import Retry, Transport

__all__ = [
    "ACCEPT",
    "BlobOutcome",
    "Credentials",
    "NoProgress",
    "Progress",
    "PullResult",
    "Puller",
    "PushResult",
    "Pusher",
    "RegistryAuth",
    "Retry",
    "Transport",
    "connect",
    "fetch_manifest",
]


def connect(
    reference: Reference,
    credentials: Callable[[str], Credentials | None] | None = None,
    *,
    retry: Retry | None = None,
    timeout: float = 30.0,
) -> Transport:
    """A transport to ``reference``'s registry that answers its challenges with ``credentials``
    (looked up by ``host[:port]``) and says which ``lamina login`` to run on a 401."""
    auth = RegistryAuth(credentials)
    host = reference.registry

    def hint(sent: bool) -> str:
        if auth.credentials(host) is None:
            return f"run `lamina login {host}` first"
        return f"the credentials for {host} were refused; run `lamina login {host}` again"

    return Transport(reference, auth=auth, retry=retry, timeout=timeout, login_hint=hint)
