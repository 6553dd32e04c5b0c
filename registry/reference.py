"""Where a model lives on a registry: host, repository and tag or digest (distribution-spec
§Pulling manifests), and whether to speak https or plain http to it.

A lamina name ``host/namespace/model:tag`` becomes the repository ``namespace/model`` on ``host``.
Plain http is used for loopback hosts and when asked for (``--insecure``), https otherwise.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ocitypes import Digest

__all__ = ["InvalidReference", "Reference", "is_host", "is_loopback"]

# distribution-spec §Pulling manifests: <name> and <reference> grammars.
_REPOSITORY = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
_HOST = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?")


class InvalidReference(ValueError):
    """A host, repository or tag a registry would refuse; the message says which part."""

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem
        super().__init__(f"cannot use {text!r} on a registry: {problem}")


def is_host(text: str) -> bool:
    """Whether ``text`` is a registry's ``host[:port]`` (a name, IPv4 or ``[IPv6]``)."""
    return _HOST.fullmatch(text) is not None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (``name[:port]``) is this machine: localhost or a loopback address."""
    name = host
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name.lower() == "localhost" or name.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Reference:
    """A manifest on a registry: ``registry`` is ``host[:port]``, ``tag`` or ``digest`` names it."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        spelled = f"{self.registry}/{self.repository}"
        if _HOST.fullmatch(self.registry) is None:
            raise InvalidReference(spelled, f"host {self.registry!r} is not a host name")
        if _REPOSITORY.fullmatch(self.repository) is None:
            raise InvalidReference(
                spelled,
                f"repository {self.repository!r} must be lower-case letters, digits and "
                "'.', '_', '-' separated by '/'",
            )
        if self.tag is not None and _TAG.fullmatch(self.tag) is None:
            raise InvalidReference(spelled, f"tag {self.tag!r} is not a valid tag")
        if self.tag is None and self.digest is None:
            raise InvalidReference(spelled, "neither a tag nor a digest")

    @classmethod
    def parse(cls, text: str, *, insecure: bool = False) -> Reference:
        """``host/repository[:tag][@sha256:…]``; the tag defaults to ``latest``."""
        rest, digest = text, None
        if "@" in rest:
            rest, digest_text = rest.split("@", 1)
            digest = Digest.parse(digest_text)
        tag = None
        if rest.rfind(":") > rest.rfind("/"):
            rest, tag = rest.rsplit(":", 1)
        if "/" not in rest:
            raise InvalidReference(text, "expected host/repository")
        registry, repository = rest.split("/", 1)
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry, repository, tag, digest, insecure)

    @property
    def scheme(self) -> str:
        return "http" if self.insecure or is_loopback(self.registry) else "https"

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]``, to which ``/v2/…`` paths are appended."""
        return f"{self.scheme}://{self.registry}"

    @property
    def manifest_reference(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one, else the tag."""
        return str(self.digest) if self.digest is not None else str(self.tag)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text
