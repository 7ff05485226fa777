"""Persistence: SQLAlchemy tables, Alembic migrations and small repository modules (events, automations,
evaluation state, tokens, leases). `Store` bundles a writer and a reader engine for one database URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from tocsin.store.database import make_engine, migrate, normalise_url


@dataclass
class Store:
    url: str
    engine: Engine  # transactions that write
    reader: Engine  # read-only queries (on SQLite they do not take the write lock)
    _write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction. On SQLite, writers of this process queue on a Python lock first: SQLite's
        own busy handler sleeps in steps of up to 100 ms, which would put that much latency on a firing."""
        if self.engine.dialect.name != "sqlite":
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True, synchronous: str = "FULL") -> Store:
        url = normalise_url(url)
        engine = make_engine(url, synchronous=synchronous)
        reader = make_engine(url, reader=True) if url.startswith("sqlite") else engine
        if migrate_schema:
            migrate(engine)
        return cls(url, engine, reader)

    def close(self) -> None:
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()


__all__ = ["Store"]
