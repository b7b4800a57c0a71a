"""Layer 5: where the server runs (ASGI, the standalone server)."""
