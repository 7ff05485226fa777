"""The engine's HTTP server: FastAPI adapters over the store and the pure evaluator. Import create_app.

The names are loaded on first use, so the evaluator and dispatcher processes (tocsin.server.processes), which
import modules of this package, do not load the web stack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tocsin.server.app import create_app
    from tocsin.server.settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from tocsin.server.app import create_app

        return create_app
    if name == "Settings":
        from tocsin.server.settings import Settings

        return Settings
    raise AttributeError(f"module 'tocsin.server' has no attribute {name!r}")
