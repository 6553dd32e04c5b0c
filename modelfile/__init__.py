"""The Modelfile language."""
