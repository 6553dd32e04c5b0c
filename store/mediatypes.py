"""Media types of manifests, configs and layers, as Ollama writes them."""

from __future__ import annotations

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG = "application/vnd.docker.container.image.v1+json"

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
