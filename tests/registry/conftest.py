"""Real Distribution registries for the client tests, one per auth mode, started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .distribution import Registry, proxy_factory, start_registry

__all__ = ["proxy_factory"]


def _registry(tmp_path_factory: pytest.TempPathFactory, auth: str) -> Iterator[Registry]:
    registry = start_registry(tmp_path_factory.mktemp(f"registry-{auth}"), auth)
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    yield from _registry(tmp_path_factory, "none")


@pytest.fixture(scope="session")
def distribution_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    yield from _registry(tmp_path_factory, "basic")


@pytest.fixture(scope="session")
def distribution_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    yield from _registry(tmp_path_factory, "token")
