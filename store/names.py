"""Model names as a small frozen value type, spelled and checked exactly as Ollama does.

A name is ``[scheme://][host/][namespace/]model[:tag][@sha256:<hex>]``. Missing parts take the
defaults ``registry.ollama.ai``, ``library`` and ``latest``; the optional ``http://`` or
``https://`` prefix only says how to reach the registry and is not part of the name's identity.
If the last ``:`` comes after the last ``/``, the text after it is the tag, so a host may carry a
port (``localhost:5000/ns/model``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ocitypes import Digest

from .errors import InvalidName

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SCHEME",
    "DEFAULT_TAG",
    "HUB_HOSTS",
    "SCHEMES",
    "Name",
    "is_hub_name",
    "is_valid_namespace",
    "parse_hub_name",
]

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
DEFAULT_SCHEME = "https"
SCHEMES = frozenset({"http", "https"})
HUB_HOSTS = ("hf.co", "huggingface.co")
"""Hosts whose names are Hugging Face repositories (pulled by ``store.hub``), not registries."""

# Characters allowed after the first one, besides ASCII letters, digits and "_".
_EXTRA = {"host": "-.:", "namespace": "-", "model": "-.", "tag": "-."}
_MAX_LEN = {"host": 350, "namespace": 80, "model": 80, "tag": 80}
_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_DIGEST = re.compile(r"sha256[:-][0-9a-fA-F]{64}")


def _part_problem(kind: str, text: str) -> str | None:
    """Why ``text`` is not a valid part of this kind, or None when it is."""
    if not text:
        return f"{kind} is empty"
    limit = _MAX_LEN[kind]
    if len(text) > limit:
        return f"{kind} is {len(text)} characters long, at most {limit} are allowed"
    if text[0] not in _FIRST:
        return f"{kind} must start with a letter, digit or '_', not {text[0]!r}"
    allowed = _FIRST | frozenset(_EXTRA[kind])
    for position, char in enumerate(text):
        if char not in allowed:
            others = ", ".join(repr(c) for c in "_" + _EXTRA[kind])
            return (
                f"{kind} {text!r} contains {char!r} at position {position}; only ASCII letters, "
                f"digits and {others} are allowed"
            )
    return None


def is_valid_namespace(text: str) -> bool:
    """Whether ``text`` is a valid namespace (a user or organisation on a registry)."""
    return _part_problem("namespace", text) is None


def _split_scheme(text: str) -> tuple[str, str]:
    """The scheme (``https`` when none is given) and the rest of the name."""
    if "://" not in text:
        return DEFAULT_SCHEME, text
    given, rest = text.split("://", 1)
    if not given.isalpha():
        raise InvalidName(text, "'://' may only follow a scheme at the start")
    if given.lower() not in SCHEMES:
        raise InvalidName(text, f"unsupported scheme {given!r}, use http or https")
    if rest.count("/") != 2:
        raise InvalidName(text, "a name with a scheme must spell host/namespace/model")
    return given.lower(), rest


def _split_digest(text: str, rest: str) -> tuple[str, Digest | None]:
    """The name before ``@`` and the digest after it, if any."""
    if "@" not in rest:
        return rest, None
    rest, digest_text = rest.split("@", 1)
    if _DIGEST.fullmatch(digest_text) is None:
        raise InvalidName(text, f"digest {digest_text!r} is not sha256:<64 hex digits>")
    # Ollama accepts the file spelling and upper case here; the digest itself is canonical.
    return rest, Digest(digest_text[len("sha256:"):].lower())


@dataclass(frozen=True, slots=True)
class Name:
    """A fully qualified, valid model name; construction checks every part."""

    host: str
    namespace: str
    model: str
    tag: str
    digest: Digest | None = None
    scheme: str = field(default=DEFAULT_SCHEME, compare=False)

    def __post_init__(self) -> None:
        for kind in ("host", "namespace", "model", "tag"):
            problem = _part_problem(kind, getattr(self, kind))
            if problem is not None:
                raise InvalidName(self._spelling(), problem)
        if self.scheme not in SCHEMES:
            raise InvalidName(self._spelling(), f"unsupported scheme {self.scheme!r}")

    @classmethod
    def parse(cls, text: str) -> Name:
        """Parse ``[scheme://][host/][namespace/]model[:tag][@digest]``, filling in defaults."""
        scheme, rest = _split_scheme(text)
        rest, digest = _split_digest(text, rest)
        tag = DEFAULT_TAG
        if rest.rfind(":") > rest.rfind("/"):
            rest, tag = rest.rsplit(":", 1)
            if not tag:
                raise InvalidName(text, "tag is empty after ':'")
        parts = rest.split("/")
        if len(parts) > 3:
            raise InvalidName(text, "too many '/': expected at most host/namespace/model")
        host, namespace = DEFAULT_HOST, DEFAULT_NAMESPACE
        if len(parts) == 3:
            host, namespace, model = parts
        elif len(parts) == 2:
            namespace, model = parts
        else:
            (model,) = parts
        try:
            return cls(host, namespace, model, tag, digest, scheme)
        except InvalidName as exc:
            raise InvalidName(text, exc.reason) from None

    @classmethod
    def from_parts(cls, host: str, namespace: str, model: str, tag: str) -> Name:
        """A name from its four parts, as read back from a manifest path."""
        return cls(host, namespace, model, tag)

    def __str__(self) -> str:
        base = self._spelling()
        return base if self.digest is None else f"{base}@{self.digest}"

    def _spelling(self) -> str:
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    def display_shortest(self) -> str:
        """The shortest spelling that parses back to this name: default host and namespace
        dropped, tag always kept (``llama3.2:latest``, ``me/model:tag``); no digest."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    def display_namespace_model(self) -> str:
        """``namespace/model``, the repository part of registry URLs."""
        return f"{self.namespace}/{self.model}"

    def casefold_key(self) -> tuple[str, str, str, str]:
        """Host, namespace, model and tag lower-cased, for case-insensitive lookups."""
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())

    def equal_fold(self, other: Name) -> bool:
        """Whether both names address the same manifest path, ignoring case."""
        return self.casefold_key() == other.casefold_key()

    def with_tag(self, tag: str) -> Name:
        """This name with another tag and no digest."""
        return Name(self.host, self.namespace, self.model, tag, None, self.scheme)

    def require_no_digest(self, role: str) -> Name:
        """This name, refused with ``InvalidName`` if it carries ``@digest``: a name about to be
        written (``role``: "destination", "target") cannot promise the ID of what it will be."""
        if self.digest is not None:
            raise InvalidName(
                str(self),
                f"the {role} names a digest; a new model's ID is known only once it is written, "
                "so give the name without '@sha256:…'",
            )
        return self

    def without_digest(self) -> Name:
        """This name without its ``@digest``."""
        return Name(self.host, self.namespace, self.model, self.tag, None, self.scheme)


def parse_hub_name(text: str) -> tuple[str, str | None] | None:
    """``hf.co/user/repo[:quant]`` (or ``huggingface.co/…``) as (``user/repo``, quant), else
    None for a name that is not on the Hub."""
    for host in HUB_HOSTS:
        if text.lower().startswith(host + "/"):
            rest = text[len(host) + 1:]
            repo, _, quant = rest.partition(":")
            if repo.count("/") != 1 or not all(repo.split("/")):
                return None
            return repo, (quant or None)
    return None


def is_hub_name(text: str) -> bool:
    """Whether ``text`` names a Hugging Face repository (``hf.co/user/repo[:quant]``)."""
    return parse_hub_name(text) is not None
