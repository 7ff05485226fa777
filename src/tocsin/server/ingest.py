"""The ingest writer: one thread that commits the rows of every request in group commits, so many small
requests share one transaction (and one fsync) and an answer is given only after the commit."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from tocsin.server.metrics import Metrics
from tocsin.store import Store
from tocsin.store.events import insert_events

log = logging.getLogger("tocsin.server.ingest")
MAX_GROUP_ROWS = 5000  # rows per group commit; larger groups add latency without adding throughput

_STOP = object()


class IngestWriter:
    """The writer thread. A request hands it rows with `submit` and awaits the returned future; each commit
    answers all of its requests with one wake-up of their event loop (not one per request), and the queue is
    a SimpleQueue, so handing rows over costs no Python-level locking."""

    def __init__(self, store: Store, metrics: Metrics, on_commit: Callable[[], None]) -> None:
        self._store = store
        self._metrics = metrics
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tocsin-ingest", daemon=True)
        self._closed = False

    def start(self) -> None:
        self._thread.start()

    def submit(self, rows: Sequence[tuple[Any, ...] | dict[str, Any]]) -> asyncio.Future[None]:
        """Queue event rows for the next group commit. Call on the event loop: the future is done once they
        are committed, or has the commit's error."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:
            fut.set_exception(RuntimeError("the server is shutting down"))
        else:
            self._queue.put((rows, fut))
        return fut

    def stop(self) -> None:
        """Commit everything already submitted, then stop."""
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            group = [item]
            size = len(item[0])
            while size < MAX_GROUP_ROWS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                group.append(more)
                size += len(more[0])
            self._metrics.ingest_queue.set(self._queue.qsize())
            self._commit(group, size)

    def _commit(self, group: list[tuple[Sequence[Any], asyncio.Future[None]]], size: int) -> None:
        rows = group[0][0] if len(group) == 1 else [row for batch, _ in group for row in batch]
        started = time.perf_counter()
        error: Exception | None = None
        try:
            with self._store.write() as conn:
                insert_events(conn, rows)
        except Exception as exc:  # noqa: BLE001 - every waiting request learns of the failure
            log.exception("ingest commit failed", extra={"events": size})
            error = exc
        else:
            self._metrics.ingest_commit.observe(time.perf_counter() - started)
            self._metrics.events_ingested.inc(size)
        _answer([fut for _, fut in group], error)
        if error is None:
            self._on_commit()


def _answer(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    """Settle the futures of one commit: one call into each event loop they belong to (usually one)."""
    loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for fut in futures:
        loops.setdefault(fut.get_loop(), []).append(fut)
    for loop, waiting in loops.items():
        try:
            loop.call_soon_threadsafe(_settle, waiting, error)
        except RuntimeError:  # that loop is closed: nobody waits there any more
            pass


def _settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for fut in futures:
        if fut.done():  # cancelled: its request went away (its rows are committed all the same)
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)
