"""The engine's HTTP server: FastAPI adapters over the store and the pure evaluator. Import create_app."""

from tocsin.server.app import create_app
from tocsin.server.settings import Settings

__all__ = ["Settings", "create_app"]
