"""The ingest writer: one thread commits event batches from every request in group commits, so many small
requests share one transaction (and one fsync) and an answer is given only after the commit."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from tocsin.server.metrics import Metrics
from tocsin.store import Store
from tocsin.store.events import insert_events

log = logging.getLogger("tocsin.server.ingest")
MAX_GROUP_ROWS = 5000  # rows per group commit; larger groups add latency without adding throughput

_STOP = object()


class IngestWriter:
    def __init__(self, store: Store, metrics: Metrics, on_commit: Callable[[], None]) -> None:
        self._store = store
        self._metrics = metrics
        self._on_commit = on_commit
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="tocsin-ingest", daemon=True)
        self._closed = False

    def start(self) -> None:
        self._thread.start()

    def submit(self, rows: list[dict[str, Any]]) -> Future[None]:
        fut: Future[None] = Future()
        if self._closed:
            fut.set_exception(RuntimeError("the server is shutting down"))
            return fut
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

    def _commit(self, group: list[tuple[list[dict[str, Any]], Future[None]]], size: int) -> None:
        rows = [row for batch, _ in group for row in batch]
        started = time.perf_counter()
        try:
            with self._store.write() as conn:
                insert_events(conn, rows)
        except Exception as exc:  # noqa: BLE001 - every waiting request learns of the failure
            log.exception("ingest commit failed", extra={"events": size})
            for _, fut in group:
                fut.set_exception(exc)
            return
        self._metrics.ingest_commit.observe(time.perf_counter() - started)
        self._metrics.events_ingested.inc(size)
        for _, fut in group:
            fut.set_result(None)
        self._on_commit()
