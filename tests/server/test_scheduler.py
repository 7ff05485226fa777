"""The evaluation worker on a real SQLite database, in this process: when the cursor and the firings are written.

Events no trigger looks at change nothing but the events clock and the ids seen, so their steps leave the cursor
to the next transaction (at most PASS_BY_WRITE_DELAY later); a step that fires writes it at once."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tocsin.clock import SystemClock
from tocsin.schemas.events import Event
from tocsin.server import self_events
from tocsin.server.metrics import Metrics
from tocsin.server.scheduler import PASS_BY_WRITE_DELAY, EvaluationWorker
from tocsin.server.settings import Settings
from tocsin.store import Store
from tocsin.store import automations as automation_rows
from tocsin.store import events as event_rows

from .helpers import wait_for


@pytest.fixture
def running(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 't.db'}"
    store = Store.open(url, synchronous="NORMAL")
    now = datetime.now(timezone.utc)
    with store.write() as conn:
        doc = automation_rows.create(conn, str(uuid.uuid4()), {
            "name": "hits", "description": "", "enabled": True, "tags": [],
            "trigger": {"type": "event", "posture": "Reactive", "expect": ["hit"], "threshold": 1, "within": 0},
            "actions": [], "actions_on_trigger": [], "actions_on_resolve": []}, now)
        event_rows.insert_events(conn, [self_events.lifecycle_event(self_events.CREATED, doc, now)])
    worker = EvaluationWorker(store, SystemClock(), Settings(home=tmp_path, database_url=url), Metrics())
    worker.start()
    assert worker.wait_idle()
    yield store, worker
    worker.stop()
    store.close()


def _send(store: Store, worker: EvaluationWorker, *names: str) -> None:
    with store.write() as conn:
        rows = event_rows.sent_event_rows([Event(event=n, resource={"prefect.resource.id": "r"}) for n in names],
                                          datetime.now(timezone.utc))
        event_rows.insert_events(conn, rows)
    worker.notify()


def _written(store: Store) -> tuple[int, int, int, int]:
    """(cursor, version) of the evaluation row, the newest seq and the number of firings."""
    with store.reader.connect() as conn:
        cursor, version = conn.exec_driver_sql("SELECT cursor, version FROM evaluation").one()
        firings = conn.exec_driver_sql("SELECT count(*) FROM firings").scalar_one()
        return cursor, version, event_rows.last_seq(conn), firings


def test_events_no_trigger_sees_are_written_in_few_transactions_soon_after(running: Any) -> None:
    store, worker = running
    _, version_before, _, _ = _written(store)
    started = time.monotonic()
    for _ in range(20):  # twenty commits, each waking the worker
        _send(store, worker, "miss")
        time.sleep(0.002)
    assert worker.wait_idle()
    elapsed = time.monotonic() - started
    _, version, _, firings = wait_for(lambda: (w := _written(store))[0] == w[2] and w, 2.0, 0.005)
    assert firings == 0
    # one transaction per PASS_BY_WRITE_DELAY at most (plus the last), not one per step
    assert version - version_before <= elapsed / PASS_BY_WRITE_DELAY + 2


def test_a_firing_writes_the_cursor_past_everything_before_it_at_once(running: Any) -> None:
    store, worker = running
    _send(store, worker, "miss", "miss")
    assert worker.wait_idle()
    _send(store, worker, "miss", "hit")
    cursor, _, last, _ = wait_for(lambda: (w := _written(store))[3] == 1 and w, 5.0, 0.001)
    assert cursor == last  # the firing's transaction carried the passed-by events and its triggered event


def test_stopping_writes_what_was_passed_by(running: Any) -> None:
    store, worker = running
    _send(store, worker, "miss")
    assert worker.wait_idle()
    worker.stop()
    cursor, _, last, _ = _written(store)
    assert cursor == last


def test_a_stop_asked_for_at_once_after_start_returns_at_once(tmp_path: Path) -> None:
    """Stopping while the worker restores its state (a server that cannot bind its port stops at once) must not
    wait for the next deadline: on SQLite that is up to an hour, and stop() would give up after its timeout."""
    url = f"sqlite:///{tmp_path / 't.db'}"
    store = Store.open(url, synchronous="NORMAL")
    try:
        for _ in range(5):
            worker = EvaluationWorker(store, SystemClock(), Settings(home=tmp_path, database_url=url), Metrics())
            worker.start()
            started = time.monotonic()
            worker.stop()
            assert time.monotonic() - started < 2.0
            assert not worker._thread.is_alive()
    finally:
        store.close()
