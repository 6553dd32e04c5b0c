"""The OCI distribution client and server (to come).

The registry speaks to small Protocols that the store satisfies (blob source and sink, manifest
store) and never imports ``store`` itself.
"""

__all__: list[str] = []
