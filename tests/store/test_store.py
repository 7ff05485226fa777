"""Store building blocks: the evaluation step's compare-and-set fence, leases, idempotent event insert."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tocsin.schemas.events import Event
from tocsin.store import Store, evaluation, events, leases
from tocsin.triggers import Changes, InMemoryStateStore

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path) -> Store:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 't.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = Store.open(url)
    with s.engine.begin() as conn:
        evaluation.ensure_row(conn)
    yield s
    s.close()


def _row(i: int) -> dict:
    return events.event_row(Event(event="t", resource={"prefect.resource.id": f"r.{i}"}).receive(NOW))


def test_event_insert_ignores_known_ids_and_keeps_commit_order(store) -> None:
    rows = [_row(i) for i in range(5)]
    with store.engine.begin() as conn:
        events.insert_events(conn, rows[:3])
    with store.engine.begin() as conn:
        events.insert_events(conn, rows)
    with store.reader.connect() as conn:
        got = events.read_after(conn, 0, 100)
    assert [Event.model_validate_json(body).id for _, body in got] == [Event.model_validate_json(r["body"]).id
                                                                      for r in rows]


def test_the_event_reader_sees_each_new_commit(store) -> None:
    rows = [_row(i) for i in range(4)]
    reader = events.EventReader(store.reader)
    try:
        assert reader.read(0, 10) == []
        with store.engine.begin() as conn:
            events.insert_events(conn, rows[:2])
        first = reader.read(0, 10)
        assert [(name, body) for _, name, body in first] == [("t", r["body"]) for r in rows[:2]]
        with store.engine.begin() as conn:  # a writer is not blocked by the reader between reads
            events.insert_events(conn, rows[2:])
        later = reader.read(first[-1][0], 1)
        assert [body for _, _, body in later] == [rows[2]["body"]]
        assert reader.read(0, 10)[2:] == reader.read(first[-1][0], 10)
        with store.reader.connect() as conn:
            assert events.read_after(conn, 0, 10) == [(seq, body) for seq, _, body in reader.read(0, 10)]
    finally:
        reader.close()


def test_a_stale_evaluator_cannot_commit_a_step(store) -> None:
    state = InMemoryStateStore()
    with store.engine.begin() as conn:
        assert evaluation.commit_step(conn, 0, state, evaluation.Step(new_cursor=3, changes=Changes()))
    with store.engine.begin() as conn:  # a second evaluator that also read version 0
        assert not evaluation.commit_step(conn, 0, state, evaluation.Step(new_cursor=3, changes=Changes()))
    with store.reader.connect() as conn:
        loaded = evaluation.load_state(conn, NOW)
    assert (loaded.cursor, loaded.version) == (3, 1)


def test_lease_has_one_holder_until_it_expires(store) -> None:
    with store.engine.begin() as conn:
        assert leases.acquire(conn, "x", "a", 1_000, 500) == 1
        assert leases.acquire(conn, "x", "b", 1_200, 500) is None
        assert leases.renew(conn, "x", "a", 1, 1_300, 500)
        assert leases.acquire(conn, "x", "b", 1_900, 500) == 2  # expired at 1_800: taken over, new epoch
        assert not leases.renew(conn, "x", "a", 1, 1_950, 500)
