"""Opening a database: engine options per dialect, and the schema migrations applied at start.

SQLite runs in WAL mode with `synchronous=FULL`, so a committed transaction survives a power cut, not only a
kill -9. Migrations go through Alembic; when the database is already at the head revision we do not even
import Alembic (it costs a few hundred milliseconds of a cold start).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine

HEAD_REVISION = "0002"  # keep equal to the newest file in alembic/versions
ALEMBIC_DIR = Path(__file__).with_name("alembic")


def default_sqlite_url(home: Path) -> str:
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'tocsin.db'}"


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, *, reader: bool = False, synchronous: str = "FULL", **kwargs: Any) -> Engine:
    """An engine for `url`. `synchronous` (SQLite): FULL (default) fsyncs every commit, so an acknowledged
    event survives a power cut; NORMAL survives a crash or kill -9 of the process but not of the machine.
    On SQLite a writer engine takes the write lock at BEGIN (BEGIN IMMEDIATE) so
    writers queue instead of failing to upgrade a read lock; a `reader` engine begins deferred."""
    url = normalise_url(url)
    if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, got {synchronous!r}")
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8, max_overflow=8, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN; take the write lock at BEGIN instead so that
        # concurrent writers queue on busy_timeout rather than failing on lock upgrade.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True, **kwargs)


def _is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return not inspect(conn).get_table_names()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the head revision (idempotent; safe with several servers starting together).

    An empty SQLite database gets the head schema from the table definitions and is stamped with the head
    revision, which is what running every migration would produce (tests/store/test_migrations.py checks that)
    without the cost of importing Alembic on a cold start."""
    revision = current_revision(engine)
    if revision == HEAD_REVISION:
        return
    if revision is None and engine.dialect.name == "sqlite" and _is_empty(engine):
        from tocsin.store.tables import metadata

        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                              "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD_REVISION})
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # two servers starting at once: one migrates, the other waits
            conn.execute(text("SELECT pg_advisory_xact_lock(7041)"))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
