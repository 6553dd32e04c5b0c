"""lamina's local content-addressed store, laid out exactly like Ollama's models folder."""

__all__: list[str] = []
