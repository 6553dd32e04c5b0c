"""GGUF models from Hugging Face: which files a quant tag names (``files``), and pulling them
into the store as one inode shared with the HF cache (``pull``)."""

from __future__ import annotations

from .errors import HubError, HubNotFound, HubSelectionError, HubUnauthorized, HubUnreachable
from .files import DEFAULT_QUANT, HubFile, NoGGUF, Selection, UnknownQuant, parse_hub_name, select
from .pull import HubFileOutcome, HubProgress, HubPull, hub_cache_dir, is_hub_name, pull

__all__ = [
    "DEFAULT_QUANT",
    "HubError",
    "HubFile",
    "HubFileOutcome",
    "HubNotFound",
    "HubProgress",
    "HubPull",
    "HubSelectionError",
    "HubUnauthorized",
    "HubUnreachable",
    "NoGGUF",
    "Selection",
    "UnknownQuant",
    "hub_cache_dir",
    "is_hub_name",
    "parse_hub_name",
    "pull",
    "select",
]
