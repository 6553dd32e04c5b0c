"""lamina's command-line interface."""
