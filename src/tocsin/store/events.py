"""Event rows: idempotent insert in commit order, reading past the evaluation cursor, and Prefect's
EventFilter queries."""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from itertools import repeat
from typing import Any
from uuid import uuid4

import orjson
from pydantic import TypeAdapter
from pydantic_core import SchemaValidator, core_schema
from sqlalchemy import Connection, func, select, text
from sqlalchemy.engine import Engine

from tocsin.schemas.events import RESOURCE_ID, Event, ReceivedEvent, validate_sent_batch
from tocsin.store.tables import events
from tocsin.store.timeutil import iso_z, to_us

INGEST_LOCK = 7042  # PostgreSQL advisory lock: event inserts commit one at a time, so `seq` order = commit order
NOTIFY_CHANNEL = "tocsin_events"


def event_row(event: ReceivedEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "occurred_us": to_us(event.occurred),
        "received_us": to_us(event.received),
        "event": event.event,
        "resource_id": event.resource.get("prefect.resource.id", ""),
        "body": event.model_dump_json(),
    }


def engine_event_id(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))` formatted straight from the SHA-1 digest: the deterministic ids of
    the events the engine writes (a firing's triggered event, a delivery's outcome events)."""
    h = hashlib.sha1(namespace.bytes + name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def sent_event_row(event: Event, received: datetime) -> dict[str, Any]:
    """The row for an event as a client sent it, received now (see `sent_event_rows`)."""
    return dict(zip(_COLUMNS, sent_event_rows([event], received)[0]))


def sent_event_rows(sent: Sequence[Event], received: datetime) -> list[tuple[Any, ...]]:
    """Rows (tuples in `_COLUMNS` order) for events as a client sent them, all received at `received`: each
    event's JSON gets `received` appended instead of building a ReceivedEvent, and the stamp is formatted once
    per request (this runs for every ingested event). The events are serialised in one call (see
    `_json_heads`) and each id string is read from its JSON instead of formatting the UUID again."""
    stamp = iso_z(received)
    tail = ',"received":"' + stamp + '"}'
    received_us = to_us(received)
    heads = _json_heads(sent)
    if heads is None:
        return [(str(e.id), to_us(e.occurred), received_us, e.event, e.resource.get("prefect.resource.id", ""),
                 e.model_dump_json()[:-1] + tail) for e in sent]
    return [
        (head[-52:-16] if head[-1] == "l" else head[-86:-50], to_us(e.occurred), received_us, e.event,
         e.resource.get("prefect.resource.id", ""), head + tail)
        for e, head in zip(sent, heads)
    ]



def sent_json_rows(raw: bytes, received: datetime) -> list[tuple[Any, ...]] | None:
    """The rows `sent_event_rows` writes for a POST body's events, all received at `received`, from one
    validating pass over the JSON (`validate_sent_batch`) instead of Event objects; None when the body is not a
    batch of events in the common shape (then validate it with Event and use `sent_event_rows`)."""
    batch = validate_sent_batch(raw, _orjson_dumps)
    if batch is None:
        return None
    sent, heads = batch
    tail = ',"received":"' + iso_z(received) + '"}'
    received_us = to_us(received)
    return [(e["id"], (e["occurred"] - _EPOCH) // _ONE_US, received_us, e["event"], e["resource"][RESOURCE_ID],
             head + tail) for e, head in zip(sent, heads)]  # to_us() inline: this runs for every event


_orjson_dumps = functools.partial(orjson.dumps, option=orjson.OPT_UTC_Z)  # pydantic-core's JSON, 3x faster
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)

# `_json_heads` cuts each event's JSON out of one serialised list: [[{event},"MARK"],[{event},"MARK"],...]
# with a MARK drawn at random per call (a client cannot have put it in a payload; the count is checked anyway).
# Each head is the event's JSON without its closing brace, ending with the last two fields,
# `"id":"<36>","follows":null` or `"id":"<36>","follows":"<36>"`, from which `sent_event_rows` slices the id.
_MARKED = TypeAdapter(list[tuple[Event, str]])
_ID_LAST = list(Event.model_fields)[-2:] == ["id", "follows"]


def _json_heads(sent: Sequence[Event]) -> list[str] | None:
    if not sent or not _ID_LAST or set(map(type, sent)) != {Event}:  # a subclass would serialise as an Event
        return None
    mark = uuid4().hex
    cut = '},"' + mark + '"],['
    text = _MARKED.dump_json(list(zip(sent, repeat(mark)))).decode()
    heads = text[2:-(len(mark) + 6)].split(cut)  # without the leading [[ and the trailing },"MARK"]]
    return heads if len(heads) == len(sent) else None


# --- reading stored bodies back ---------------------------------------------------------------------------------
def _field(schema: core_schema.CoreSchema) -> core_schema.TypedDictField:
    return core_schema.typed_dict_field(schema)


_STR = core_schema.str_schema(strict=True)
_LABELS = core_schema.dict_schema(_STR, _STR, strict=True)
_UUID = core_schema.uuid_schema()
# a stored body's fields as they are written, datetimes left as text: one pass of pydantic-core, no Python
_STORED_FIELDS: dict[str, core_schema.TypedDictField] = {
    "occurred": _field(_STR),
    "event": _field(_STR),
    "resource": _field(_LABELS),
    "related": _field(core_schema.list_schema(_LABELS, strict=True)),
    "payload": _field(core_schema.dict_schema(_STR, core_schema.any_schema())),
    "id": _field(_UUID),
    "follows": _field(core_schema.nullable_schema(_UUID)),
    "received": _field(_STR),
}
assert list(_STORED_FIELDS) == list(ReceivedEvent.model_fields)  # the __dict__ of a validated event, in order
_STORED = SchemaValidator(core_schema.typed_dict_schema(_STORED_FIELDS))
_new = object.__new__
_set = object.__setattr__
_from_iso = datetime.fromisoformat
_UTC = timezone.utc


def parse_stored_event(body: str | bytes) -> ReceivedEvent:
    """`ReceivedEvent.model_validate_json(body)` for a body the engine wrote itself (already validated): an
    equal object (same field types and values, datetimes in the stdlib UTC, same fields set) without running
    the event model's checks again. A body of another shape is validated as usual."""
    try:
        data = _STORED.validate_json(body)
        occurred, received = _from_iso(data["occurred"]), _from_iso(data["received"])
    except ValueError:  # pydantic's ValidationError too
        return ReceivedEvent.model_validate_json(body)
    data["occurred"] = occurred if occurred.tzinfo is _UTC else _utc(occurred)
    data["received"] = received if received.tzinfo is _UTC else _utc(received)
    event = _new(ReceivedEvent)
    _set(event, "__dict__", data)
    _set(event, "__pydantic_fields_set__", set(_STORED_FIELDS))
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


# what `Evaluator.pass_by` needs of an event no trigger looks at: a third of the full read
_PEEK = SchemaValidator(core_schema.typed_dict_schema(
    {name: _STORED_FIELDS[name] for name in ("occurred", "id", "follows", "received")}, extra_behavior="ignore"))


def peek_stored_event(body: str | bytes) -> tuple[uuid.UUID, datetime, datetime] | None:
    """(id, occurred, received) of a stored body whose `follows` is null, read without building the event;
    None when it follows another event or has another shape (then parse it)."""
    try:
        data = _PEEK.validate_json(body)
        occurred, received = _from_iso(data["occurred"]), _from_iso(data["received"])
    except ValueError:  # pydantic's ValidationError too
        return None
    if data["follows"] is not None:
        return None
    return (data["id"], occurred if occurred.tzinfo is _UTC else _utc(occurred),
            received if received.tzinfo is _UTC else _utc(received))


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=_UTC) if when.tzinfo is None else when.astimezone(_UTC)


_COLUMNS = ("id", "occurred_us", "received_us", "event", "resource_id", "body")
_SQLITE_INSERT = f"INSERT OR IGNORE INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


def insert_events(conn: Connection, rows: Sequence[dict[str, Any] | tuple[Any, ...]]) -> None:
    """Insert event rows (dicts, or tuples in `_COLUMNS` order), ignoring ids already stored (idempotent
    ingest). Call inside a transaction.

    On PostgreSQL the transaction first takes an advisory lock so that sequence numbers are handed out in
    commit order (the evaluation cursor would otherwise skip a slow transaction's events), and notifies the
    evaluating process at commit."""
    if not rows:
        return
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        from sqlalchemy.dialects import postgresql  # here: the module costs ~40 ms of start-up on SQLite

        lock_for_append(conn)
        dicts = [r if isinstance(r, dict) else dict(zip(_COLUMNS, r)) for r in rows]
        conn.execute(postgresql.insert(events).on_conflict_do_nothing(index_elements=["id"]), dicts)
        conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    else:  # the driver's executemany directly: a third of the cost of the SQLAlchemy statement per row
        conn.exec_driver_sql(_SQLITE_INSERT, [r if isinstance(r, tuple) else tuple(r[c] for c in _COLUMNS)
                                              for r in rows])


def lock_for_append(conn: Connection) -> None:
    """Make this transaction the only one appending events until it ends, so `seq` order is commit order and
    `last_seq` read inside it stays true until it commits. On SQLite every write transaction already holds the
    database's write lock (BEGIN IMMEDIATE); on PostgreSQL this takes the ingest advisory lock (re-entrant)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_LOCK})


_READ_AFTER = "SELECT seq, event, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?"


def read_after(conn: Connection, cursor: int, limit: int) -> list[tuple[int, str]]:
    """Events past the cursor in commit order: (seq, body)."""
    sql = _READ_AFTER.replace("?", "%s") if conn.dialect.paramstyle in ("format", "pyformat") else _READ_AFTER
    return [(r[0], r[2]) for r in conn.exec_driver_sql(sql, (cursor, limit))]


class EventReader:
    """Reads events past a cursor for the evaluation step, on a driver connection of its own: the step runs
    many times a second, and checking a pooled connection out and in again cost more than the read."""

    def __init__(self, engine: Engine) -> None:
        self._conn = engine.raw_connection()
        self._sql = _READ_AFTER if engine.dialect.paramstyle == "qmark" else _READ_AFTER.replace("?", "%s")
        # SQLite's driver is in autocommit mode (each SELECT sees the newest commit); others end the read's
        # transaction, so the next read sees newer commits and no transaction is left open between steps
        self._end = None if engine.dialect.name == "sqlite" else self._conn.rollback

    def read(self, cursor: int, limit: int) -> list[tuple[int, str, str]]:
        """(seq, event name, body) in commit order: the driver's own tuples (the name tells which bodies need
        parsing at all)."""
        cur = self._conn.cursor()
        try:
            cur.execute(self._sql, (cursor, limit))
            return cur.fetchall()  # type: ignore[no-any-return]
        finally:
            cur.close()
            if self._end is not None:
                self._end()

    def close(self) -> None:
        self._conn.close()


def last_seq(conn: Connection) -> int:
    """The newest event's seq (plain SQL: the evaluation step reads it once per self-event generation)."""
    return int(conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM events").scalar_one())


def get_event(conn: Connection, event_id: str) -> ReceivedEvent | None:
    body = conn.execute(select(events.c.body).where(events.c.id == event_id)).scalar()
    return ReceivedEvent.model_validate_json(body) if body else None


def recent_processed(conn: Connection, cursor: int, since_us: int, limit: int) -> list[tuple[str, int]]:
    """(id, received_us) of the newest events at or before the cursor received since `since_us`."""
    rows = conn.execute(
        select(events.c.id, events.c.received_us)
        .where(events.c.seq <= cursor, events.c.received_us >= since_us)
        .order_by(events.c.seq.desc())
        .limit(limit)
    ).all()
    return [(r[0], r[1]) for r in reversed(rows)]


# --- EventFilter queries ---------------------------------------------------------------------------------------
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from sqlalchemy import or_  # noqa: E402

SCAN_CHUNK = 1000


@dataclass
class EventQuery:
    """Prefect's EventFilter, flattened. SQL narrows by the indexed columns; `predicate` checks the rest."""

    since_us: int | None = None
    until_us: int | None = None
    names: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    exclude_names: list[str] = field(default_factory=list)
    exclude_prefixes: list[str] = field(default_factory=list)
    resource_ids: list[str] = field(default_factory=list)
    resource_id_prefixes: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    descending: bool = True
    predicate: Callable[[ReceivedEvent], bool] | None = None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _sql(query: EventQuery) -> Any:
    stmt = select(events.c.seq, events.c.body)
    if query.since_us is not None:
        stmt = stmt.where(events.c.occurred_us >= query.since_us)
    if query.until_us is not None:
        stmt = stmt.where(events.c.occurred_us <= query.until_us)
    if query.names or query.prefixes:
        stmt = stmt.where(or_(
            *([events.c.event.in_(query.names)] if query.names else []),
            *[events.c.event.like(_escape_like(p) + "%", escape="\\") for p in query.prefixes],
        ))
    if query.exclude_names:
        stmt = stmt.where(events.c.event.not_in(query.exclude_names))
    for prefix in query.exclude_prefixes:
        stmt = stmt.where(~events.c.event.like(_escape_like(prefix) + "%", escape="\\"))
    if query.resource_ids or query.resource_id_prefixes:
        stmt = stmt.where(or_(
            *([events.c.resource_id.in_(query.resource_ids)] if query.resource_ids else []),
            *[events.c.resource_id.like(_escape_like(p) + "%", escape="\\") for p in query.resource_id_prefixes],
        ))
    if query.ids:
        stmt = stmt.where(events.c.id.in_(query.ids))
    order = (events.c.occurred_us.desc(), events.c.seq.desc()) if query.descending else (
        events.c.occurred_us.asc(), events.c.seq.asc())
    return stmt.order_by(*order)


def search(conn: Connection, query: EventQuery, offset: int, limit: int) -> tuple[list[ReceivedEvent], int]:
    """One page of matching events and the total number of matches."""
    stmt = _sql(query)
    if query.predicate is None:
        total = int(conn.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one())
        rows = conn.execute(stmt.offset(offset).limit(limit)).all()
        return [ReceivedEvent.model_validate_json(r[1]) for r in rows], total
    page: list[ReceivedEvent] = []
    total = 0
    for (_seq, body) in conn.execute(stmt.execution_options(yield_per=SCAN_CHUNK)):
        event = ReceivedEvent.model_validate_json(body)
        if not query.predicate(event):
            continue
        if offset <= total < offset + limit:
            page.append(event)
        total += 1
    return page, total
