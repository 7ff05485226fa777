"""The evaluator's durable state: the cursor over `events`, the window state the pure evaluator keeps in its
InMemoryStateStore, and the firings it produced, all written in ONE transaction per evaluation step.

The `evaluation` row carries a `version` that each step compares and sets: two processes that both believe
they evaluate (a paused leader whose lease expired, say) cannot both commit the same step, so an event is
consumed once and a firing written once.

Seen event ids are not written row by row: an event is seen exactly when the cursor has passed it and it is
not parked, so `load_state` derives them from `events` (ingest already refuses duplicate ids).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from tocsin.store import events as event_rows
from tocsin.store.tables import (
    child_firings,
    evaluation,
    firings,
    loaded_triggers,
    next_runs,
    outbox,
    parked_events,
    trigger_buckets,
)
from tocsin.store.timeutil import to_us
from tocsin.triggers import Changes, Firing, InMemoryStateStore

PARTITION = 0
SEEN_WINDOW = timedelta(minutes=30)
SEEN_LIMIT = 10_000


@dataclass
class LoadedState:
    cursor: int
    version: int
    snapshot: dict[str, Any]
    triggers: dict[str, dict[str, Any]]  # automation id -> trigger JSON the evaluator had loaded


@dataclass
class Step:
    """Everything one evaluation step writes."""

    new_cursor: int
    changes: Changes
    firings: list[Firing] = field(default_factory=list)
    firing_text: list[str] = field(default_factory=list)  # json.dumps(firing.to_json()), made by the caller
    self_events: list[dict[str, Any]] = field(default_factory=list)  # event rows (see events.event_row)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    triggers_loaded: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers_unloaded: set[str] = field(default_factory=set)


def ensure_row(conn: Connection) -> None:
    if conn.execute(select(evaluation.c.partition).where(evaluation.c.partition == PARTITION)).first() is None:
        conn.execute(insert(evaluation).values(partition=PARTITION, cursor=0, version=0))


def load_state(conn: Connection, now: datetime) -> LoadedState:
    row = conn.execute(select(evaluation).where(evaluation.c.partition == PARTITION)).one()
    parked = [json.loads(d) for (d,) in conn.execute(select(parked_events.c.data))]
    parked_ids = {p["id"] for p in parked}
    seen = [
        [i, datetime.fromtimestamp(us / 1e6, tz=now.tzinfo).isoformat()]
        for i, us in event_rows.recent_processed(conn, row.cursor, to_us(now - SEEN_WINDOW), SEEN_LIMIT)
        if i not in parked_ids
    ]
    snapshot = {
        "buckets": [json.loads(d) for (d,) in conn.execute(select(trigger_buckets.c.data))],
        "child_firings": [
            {"automation_id": a, "parent_path": p, "firing": json.loads(d)}
            for a, p, d in conn.execute(
                select(child_firings.c.automation_id, child_firings.c.parent_path, child_firings.c.data)
            )
        ],
        "parked": parked,
        "seen": seen,
        "events_clock": row.events_clock,
        "events_clock_updated": row.events_clock_updated,
        "next_runs": [list(r) for r in conn.execute(
            select(next_runs.c.automation_id, next_runs.c.trigger_path, next_runs.c.due))],
    }
    triggers = {a: json.loads(t) for a, t in conn.execute(select(loaded_triggers.c.automation_id,
                                                                  loaded_triggers.c.trigger))}
    return LoadedState(row.cursor, row.version, snapshot, triggers)


# statements built once: building a Core statement (and its cache key) costs more than running it. On SQLite the
# hot ones run as the driver's own SQL (named parameters, executemany directly: a fraction of Core's cost per row)
def _set_cursor(*clock: str) -> Any:
    c = evaluation.c
    return (update(evaluation).where(c.partition == bindparam("w_partition"), c.version == bindparam("w_version"))
            .values(cursor=bindparam("w_cursor"), version=bindparam("w_new_version"),
                    **{name: bindparam("w_" + name) for name in clock}))


_SET_CURSOR = _set_cursor()
_SET_CURSOR_AND_CLOCK = _set_cursor("events_clock", "events_clock_updated")
_SQLITE_SET_CURSOR = ("UPDATE evaluation SET cursor = :w_cursor, version = :w_new_version{} "
                      "WHERE partition = :w_partition AND version = :w_version")
_SQLITE_SET_CURSOR_AND_CLOCK = _SQLITE_SET_CURSOR.format(
    ", events_clock = :w_events_clock, events_clock_updated = :w_events_clock_updated")
_SQLITE_SET_CURSOR = _SQLITE_SET_CURSOR.format("")
_UNLOAD_TRIGGER = delete(loaded_triggers).where(loaded_triggers.c.automation_id == bindparam("a"))
_DELETE_NEXT_RUN = delete(next_runs).where(next_runs.c.automation_id == bindparam("a"),
                                           next_runs.c.trigger_path == bindparam("p"))
_INSERT = {table.name: insert(table) for table in (loaded_triggers, firings, trigger_buckets, child_firings,
                                                   parked_events, next_runs, outbox)}
_SQLITE_INSERT: dict[tuple[str, ...], str] = {}  # (table, its columns given) -> SQL


def _insert(conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys)."""
    if conn.dialect.name != "sqlite":
        conn.execute(_INSERT[table], rows)
        return
    key = (table, *rows[0])
    sql = _SQLITE_INSERT.get(key)
    if sql is None:
        names = key[1:]
        sql = _SQLITE_INSERT[key] = (f"INSERT INTO {table} ({', '.join(names)}) "
                                     f"VALUES ({', '.join(':' + n for n in names)})")
    conn.exec_driver_sql(sql, rows)  # type: ignore[arg-type]


def commit_step(conn: Connection, version: int, store: InMemoryStateStore, step: Step) -> bool:
    """Write one step if nobody else has since `version`. Returns False (and writes nothing; the caller
    rolls back) when the version moved: another process evaluates now."""
    values: dict[str, Any] = {"w_partition": PARTITION, "w_version": version, "w_cursor": step.new_cursor,
                              "w_new_version": version + 1}
    clock = step.changes.clock
    if clock:
        values["w_events_clock"] = store.events_clock.isoformat() if store.events_clock else None
        values["w_events_clock_updated"] = (
            store.events_clock_updated.isoformat() if store.events_clock_updated else None
        )
    if conn.dialect.name == "sqlite":
        moved = conn.exec_driver_sql(_SQLITE_SET_CURSOR_AND_CLOCK if clock else _SQLITE_SET_CURSOR,
                                     values).rowcount
    else:
        moved = conn.execute(_SET_CURSOR_AND_CLOCK if clock else _SET_CURSOR, values).rowcount
    if moved != 1:
        return False
    _write_changes(conn, store, step.changes)
    unloaded = step.triggers_unloaded | set(step.triggers_loaded)
    if unloaded:
        conn.execute(_UNLOAD_TRIGGER, [{"a": aid} for aid in unloaded])
    if step.triggers_loaded:
        conn.execute(_INSERT["loaded_triggers"], [
            {"automation_id": a, "trigger": json.dumps(t)} for a, t in step.triggers_loaded.items()])
    if step.firings:
        texts = step.firing_text or [json.dumps(f.to_json()) for f in step.firings]
        _insert(conn, "firings", [_firing_row(f, t) for f, t in zip(step.firings, texts)])
    if step.outbox:
        _insert(conn, "outbox", step.outbox)
    event_rows.insert_events(conn, step.self_events)
    return True


def _firing_row(firing: Firing, text: str) -> dict[str, Any]:
    event = firing.triggering_event
    return {
        "id": firing.id_text,
        "automation_id": firing.automation_id_text,
        "triggered_us": to_us(firing.triggered),
        "event_id": str(event.id) if event else None,
        "data": text,
    }


def _write_changes(conn: Connection, store: InMemoryStateStore, changes: Changes) -> None:
    # 1. buckets: a changed key still in the store is upserted (delete + insert), one gone is deleted
    if changes.buckets:
        keys = [{"a": str(a), "p": p, "k": json.dumps(list(k))} for a, p, k in changes.buckets]
        _delete_many(conn, trigger_buckets, ("automation_id", "trigger_path", "bucket_key"), keys)
        present = [store.buckets[ident] for ident in changes.buckets if ident in store.buckets]
        if present:
            conn.execute(_INSERT["trigger_buckets"], [
                {"automation_id": str(b.automation_id), "trigger_path": b.trigger_path,
                 "bucket_key": json.dumps(list(b.key)), "start_us": to_us(b.start), "end_us": to_us(b.end),
                 "count": b.count, "data": json.dumps(b.to_json())}
                for b in present
            ])
    # 2. composite child records
    if changes.child_firings:
        keys = [{"a": str(parent[0]), "p": parent[1], "k": child} for parent, child in changes.child_firings]
        _delete_many(conn, child_firings, ("automation_id", "parent_path", "child_path"), keys)
        rows = []
        for parent, child in changes.child_firings:
            record = store.child_firings.get(parent, {}).get(child)
            if record is not None:
                rows.append({"automation_id": str(parent[0]), "parent_path": parent[1], "child_path": child,
                             "data": json.dumps(record.to_json())})
        if rows:
            conn.execute(_INSERT["child_firings"], rows)
    # 3. parked followers
    if changes.parked:
        conn.execute(delete(parked_events).where(parked_events.c.id.in_([str(i) for i in changes.parked])))
        rows = [{"id": str(i), "data": store.parked[i].model_dump_json()} for i in changes.parked
                if i in store.parked]
        if rows:
            conn.execute(_INSERT["parked_events"], rows)
    # 4. proactive next runs
    if changes.next_runs:
        conn.execute(_DELETE_NEXT_RUN, [{"a": str(aid), "p": path} for aid, path in changes.next_runs])
        rows = [{"automation_id": str(a), "trigger_path": p, "due": store.next_runs[(a, p)].isoformat()}
                for a, p in changes.next_runs if (a, p) in store.next_runs]
        if rows:
            conn.execute(_INSERT["next_runs"], rows)


_DELETE_MANY: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def _delete_many(conn: Connection, table: Any, columns: Sequence[str], keys: list[dict[str, str]]) -> None:
    """Delete by a three-column key given as `a`, `p`, `k`."""
    dialect = conn.dialect.name
    stmt = _DELETE_MANY.get((dialect, table.name, tuple(columns)))
    if stmt is None:
        if dialect == "sqlite":
            stmt = f"DELETE FROM {table.name} WHERE {columns[0]} = :a AND {columns[1]} = :p AND {columns[2]} = :k"
        else:
            cols = [table.c[name] for name in columns]
            stmt = delete(table).where(cols[0] == bindparam("a"), cols[1] == bindparam("p"),
                                       cols[2] == bindparam("k"))
        _DELETE_MANY[(dialect, table.name, tuple(columns))] = stmt
    if isinstance(stmt, str):
        conn.exec_driver_sql(stmt, keys)  # type: ignore[arg-type]
    else:
        conn.execute(stmt, keys)


def recent_firings(conn: Connection, automation_id: str, limit: int = 20) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(firings.c.data).where(firings.c.automation_id == automation_id)
        .order_by(firings.c.triggered_us.desc()).limit(limit)
    ).all()
    return [json.loads(r[0]) for r in rows]


def open_windows(conn: Connection, automation_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(trigger_buckets.c.data).where(trigger_buckets.c.automation_id == automation_id)
        .order_by(trigger_buckets.c.end_us)
    ).all()
    return [json.loads(r[0]) for r in rows]


def child_records(conn: Connection, automation_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(child_firings.c.parent_path, child_firings.c.child_path, child_firings.c.data)
        .where(child_firings.c.automation_id == automation_id)
    ).all()
    return [{"parent_path": p, "child_path": c, "firing": json.loads(d)} for p, c, d in rows]


def next_runs_for(conn: Connection, automation_id: str) -> dict[str, str]:
    rows = conn.execute(select(next_runs.c.trigger_path, next_runs.c.due)
                        .where(next_runs.c.automation_id == automation_id)).all()
    return {p: d for p, d in rows}


def all_firings(conn: Connection) -> list[dict[str, Any]]:
    return [json.loads(d) for (d,) in conn.execute(select(firings.c.data).order_by(firings.c.triggered_us))]
