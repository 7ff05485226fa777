"""The ingest writer on a real SQLite store: requests' rows share group commits, every waiting request is answered
only after its commit (or with its error, nothing written), and a request that stops waiting harms no other."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tocsin.server.ingest import IngestWriter
from tocsin.server.metrics import Metrics
from tocsin.store import Store
from tocsin.store.events import sent_json_rows

RECEIVED = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'tocsin.db'}")
    yield store
    store.close()


def _rows(n: int) -> list[tuple[Any, ...]]:
    body = json.dumps([{"id": str(uuid.uuid4()), "event": "test.w", "occurred": "2024-05-01T09:00:00Z",
                        "resource": {"prefect.resource.id": f"r{i}"}} for i in range(n)])
    return sent_json_rows(body.encode(), RECEIVED) or []


def _stored(store: Store) -> set[str]:
    with store.reader.connect() as conn:
        return {r[0] for r in conn.exec_driver_sql("SELECT id FROM events")}


def _writer(store: Store, commits: list[set[str]]) -> tuple[IngestWriter, Metrics]:
    metrics = Metrics()
    return IngestWriter(store, metrics, on_commit=lambda: commits.append(_stored(store))), metrics


def test_waiting_requests_share_a_commit_and_are_answered_after_it(store: Store) -> None:
    commits: list[set[str]] = []
    writer, metrics = _writer(store, commits)
    batches = [_rows(3) for _ in range(5)]

    async def run() -> None:
        futures = [writer.submit(rows) for rows in batches]  # queued before the thread runs: one group
        writer.start()
        for fut, rows in zip(futures, batches):
            await fut
            assert {r[0] for r in rows} <= _stored(store)  # answered only once committed

    asyncio.run(run())
    writer.stop()
    assert commits == [{r[0] for rows in batches for r in rows}]
    assert metrics.registry.get_sample_value("tocsin_events_ingested_total") == 15


def test_a_failed_commit_answers_every_waiting_request_with_its_error_and_writes_nothing(store: Store) -> None:
    commits: list[set[str]] = []
    writer, _ = _writer(store, commits)
    good, bad = _rows(2), [_rows(1)[0][:5]]  # a row one column short: the insert fails

    async def run() -> None:
        futures = [writer.submit(good), writer.submit(bad)]
        writer.start()
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results) and results[0] is results[1]
        assert _stored(store) == set()  # the group's transaction rolled back as a whole
        await writer.submit(good)  # and the writer goes on
        assert _stored(store) == {r[0] for r in good}

    asyncio.run(run())
    writer.stop()
    assert len(commits) == 1


def test_a_request_that_stops_waiting_is_committed_and_others_are_still_answered(store: Store) -> None:
    writer, _ = _writer(store, [])
    first, second = _rows(2), _rows(2)

    async def run() -> None:
        gone = writer.submit(first)
        gone.cancel()  # as when its handler is cancelled
        waiting = writer.submit(second)
        writer.start()
        await asyncio.wait_for(waiting, timeout=10)
        assert gone.cancelled()

    asyncio.run(run())
    writer.stop()
    assert _stored(store) == {r[0] for r in first + second}


def test_stop_commits_what_was_submitted_and_refuses_more(store: Store) -> None:
    writer, _ = _writer(store, [])
    rows = _rows(4)

    async def run() -> None:
        writer.start()
        fut = writer.submit(rows)
        writer.stop()
        await asyncio.wait_for(fut, timeout=10)
        with pytest.raises(RuntimeError, match="shutting down"):
            await writer.submit(_rows(1))

    asyncio.run(run())
    assert _stored(store) == {r[0] for r in rows}
