"""Offline bundles: models saved as an OCI image layout in one tar (zstd-compressed when the
file name ends in ``.zst``), and loaded back with every digest checked first."""

from __future__ import annotations

from .archive import SaveResult, save
from .loader import LoadResult, load
from .ocilayout import BundleInvalid

__all__ = ["BundleInvalid", "LoadResult", "SaveResult", "load", "save"]
