"""Persistence: SQLAlchemy tables, Alembic migrations and small repository modules (events, automations,
evaluation state, tokens, leases). `Store` bundles a writer and a reader engine for one database URL."""

from __future__ import annotations

import fcntl
import os
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
    _lock_fd: int | None = field(default=None, repr=False)  # SQLite file: the engine processes' shared lock

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction. On SQLite, writers queue on a Python lock (threads of this process) and then on
        an flock of a file beside the database (the engine's other processes) before BEGIN IMMEDIATE:
        SQLite's own busy handler polls with sleeps of 1, 2, 5, 10... up to 100 ms, which put ~10 ms on every
        ingest commit once the evaluator wrote from another process; a blocked flock is woken at release."""
        if self.engine.dialect.name != "sqlite":
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                with self.engine.begin() as conn:
                    yield conn
            finally:
                if self._lock_fd is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

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
        store = cls(url, engine, reader)
        store._lock_fd = _open_write_lock(engine)
        return store

    def for_forked_child(self) -> Store:
        """This store's engines in a process forked from the one that opened it, without using (or closing) the
        connections the parent holds: new pools, a new in-process lock, and a lock file descriptor of its own
        (an inherited one would share its flock with the parent). Reusing the parent's engines keeps their
        dialect set-up and compiled statements on memory pages the two processes share."""
        self.engine.dispose(close=False)
        if self.reader is not self.engine:
            self.reader.dispose(close=False)
        child = Store(self.url, self.engine, self.reader)
        child._lock_fd = _open_write_lock(self.engine)
        return child

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()


def _open_write_lock(engine: Engine) -> int | None:
    """The file beside a SQLite database whose flock queues the writers of all the engine's processes."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return None
    return os.open(database + "-writelock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


__all__ = ["Store"]
