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
    parser.add_argument("--single-process", action="store_true",
                        help="run the evaluator and the dispatcher in this process too (less memory, less "
                        "throughput); by default each runs in a child process of its own, unless this process "
                        "may use only one CPU")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import gc
    import os
    import shutil
    import sys
    import tempfile

    # Start-up builds ~90,000 long-lived objects and almost no garbage (~1,000 unreachable objects at the end):
    # the collector's passes over them cost ~0.1 s of the cold start (measured: median 0.89 vs 0.98 s, +0.7 MB).
    # It is switched on again, with the start-up objects frozen out of it, before the server takes requests.
    gc.disable()

    # on one CPU the children cannot run beside the API, so they would only cost memory
    processes = not args.single_process and usable_cpus() > 1
    metrics_dir = None
    if processes:  # before prometheus_client is imported: its multiprocess mode is chosen at import
        assert "prometheus_client" not in sys.modules, "prometheus_client was imported before its mode was set"
        metrics_dir = tempfile.mkdtemp(prefix="tocsin-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ["TOCSIN_LOG_LEVEL"] = args.log_level.upper()  # for the child processes

    from tocsin.server.processes import Children, Wakeups
    from tocsin.server.settings import Settings

    settings = Settings.from_env(host=args.host, port=args.port, database_url=args.database)
    children = None
    if processes:  # forked below, once the app has imported the engine and migrated the schema
        children = Children(Wakeups.create(), settings.child_environment(os.environ),
                            stop_timeout=settings.shutdown_drain_seconds + 10)

    import uvicorn

    from tocsin.server import create_app
    from tocsin.server.logs import configure

    configure(args.log_level.upper())
    # request handling, the ingest writer and the evaluator share the GIL; a shorter switch interval keeps one
    # busy thread from holding up the others' latency by the default 5 ms per hand-over
    sys.setswitchinterval(0.001)
    app = create_app(settings, children=children)
    # the standard asyncio loop: uvloop measured no faster here (the work is Python and SQLite, not sockets) and
    # costs ~2.6 MB; see docs/decisions.md
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                            loop="asyncio", timeout_graceful_shutdown=10, ws_max_size=2 * 1024 * 1024)
    # uvicorn imports its protocol code as it starts; done here, before the fork, the children share it instead
    # of this process copying the pages the import writes to (API process 17.8 -> 15.7 MB private; all
    # processes -0.4 MB)
    config.load()
    config.get_loop_factory()
    if children is not None:  # before uvicorn starts threads: the children are forked, sharing this memory
        children.start()
    log = logging.getLogger("tocsin.server")
    if not processes and not args.single_process:
        log.info("one CPU available: evaluator and dispatcher run in this process (as --single-process)")
    log.info("listening", extra={"url": f"http://{settings.host}:{settings.port}/api",
                                 "token_file": None if settings.api_token else str(settings.home / "token")})
    gc.freeze()
    gc.enable()
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0 if server.started else 3  # uvicorn's exit code when it could not start (e.g. the port is taken)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, as `taskset` and container cpusets set it)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
