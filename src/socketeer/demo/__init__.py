"""The demo chat served by ``socketeer demo``."""

from __future__ import annotations

from .app import create_app, run_demo

__all__ = ["create_app", "run_demo"]
