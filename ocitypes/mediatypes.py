"""Media types of manifests, configs and layers: Ollama's, Docker's and the OCI's."""

from __future__ import annotations

# Docker image manifest v2 schema 2: what Ollama writes and its registry serves.
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST = MANIFEST
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
CONFIG = "application/vnd.docker.container.image.v1+json"

# OCI image spec v1.1.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.image.layout.v1+json"

_OLLAMA = "application/vnd.ollama.image."
MODEL = _OLLAMA + "model"
ADAPTER = _OLLAMA + "adapter"
PROJECTOR = _OLLAMA + "projector"
DRAFT = _OLLAMA + "draft"
TEMPLATE = _OLLAMA + "template"
SYSTEM = _OLLAMA + "system"
LICENSE = _OLLAMA + "license"
PARAMS = _OLLAMA + "params"
MESSAGES = _OLLAMA + "messages"
# Older models name their template layer "prompt"; read it as a template.
LEGACY_PROMPT = _OLLAMA + "prompt"

WEIGHTS = frozenset({MODEL, ADAPTER, PROJECTOR, DRAFT})
TEXT = frozenset({TEMPLATE, SYSTEM, LICENSE, LEGACY_PROMPT})

IMAGE_MANIFESTS = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
"""Manifests that name a config and layers."""
INDEXES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
"""Manifests that name other manifests."""
ALL_MANIFESTS = IMAGE_MANIFESTS | INDEXES
"""What a registry client asks for in ``Accept``."""
