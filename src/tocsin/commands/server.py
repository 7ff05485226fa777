"""`tocsin server [--host] [--port] [--database URL]`: run the engine."""

from __future__ import annotations

import argparse
import logging

from tocsin.server.settings import DEFAULT_PORT


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("server", help="run the Tocsin engine (HTTP API + evaluation)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--database", default=None,
                        help="SQLAlchemy URL; default sqlite under TOCSIN_HOME (~/.tocsin); "
                        "postgresql+psycopg://user@host/db for PostgreSQL")
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    import uvicorn

    from tocsin.server import Settings, create_app
    from tocsin.server.logs import configure

    configure(args.log_level.upper())
    # request handling, the ingest writer and the evaluator share the GIL; a shorter switch interval keeps one
    # busy thread from holding up the others' latency by the default 5 ms per hand-over
    sys.setswitchinterval(0.001)
    settings = Settings.from_env(host=args.host, port=args.port, database_url=args.database)
    app = create_app(settings)
    log = logging.getLogger("tocsin.server")
    log.info("listening", extra={"url": f"http://{settings.host}:{settings.port}/api",
                                 "token_file": None if settings.api_token else str(settings.home / "token")})
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=10, ws_max_size=2 * 1024 * 1024)
    return 0
