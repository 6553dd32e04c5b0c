"""The parts of ``create``, one job each; ``store.create`` puts them together.

- ``sources``: what FROM, ADAPTER and DRAFT point at (GGUF files, split GGUFs, a stored model,
  or a model the store lacks);
- ``classify``: which layer a GGUF makes (Ollama's media type rules), and which sets of weights
  can run;
- ``layers``: Ollama's pure layer rules (inheritance, replace and merge, order) and the config;
- ``weights``: the blob writes, weights linked or merged into the store.

Importing this package loads none of them; only ``create`` does.
"""
