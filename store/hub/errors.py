"""What can go wrong pulling from Hugging Face; each message says what to do."""

from __future__ import annotations

from ..errors import StoreError

__all__ = ["HubError", "HubNotFound", "HubSelectionError", "HubUnauthorized", "HubUnreachable"]


class HubError(StoreError):
    """Hugging Face refused or could not be reached."""


class HubNotFound(HubError):
    pass


class HubUnauthorized(HubError):
    pass


class HubUnreachable(HubError):
    pass


class HubSelectionError(HubError, ValueError):
    """The repository's files do not give a model for the tag asked for."""
