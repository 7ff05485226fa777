"""Stored event bodies: `sent_event_rows` writes what it always wrote (serialising a request's events in one
call), `parse_stored_event` reads any body the engine writes back to exactly what
`ReceivedEvent.model_validate_json` gives, and `peek_stored_event` its id and times when it follows nothing."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.schemas.events import Event, ReceivedEvent
from tocsin.store.events import event_row, parse_stored_event, peek_stored_event, sent_event_rows
from tocsin.store.timeutil import to_us

RECEIVED = datetime(2024, 5, 1, 10, 0, 0, 250, tzinfo=timezone.utc)


def _old_to_us(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    delta = when - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _old_rows(sent: list[Event], received: datetime) -> list[tuple[Any, ...]]:
    """`sent_event_rows` as it was: one model_dump_json and str(UUID) per event."""
    stamp = received.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    tail = ',"received":"' + stamp + '"}'
    return [(str(e.id), _old_to_us(e.occurred), _old_to_us(received), e.event,
             e.resource.get("prefect.resource.id", ""), e.model_dump_json()[:-1] + tail) for e in sent]


def _fields(event: ReceivedEvent) -> dict[str, Any]:
    return {name: (type(value), value) for name, value in event.__dict__.items()}


def _same_as_validated(body: str) -> None:
    fast, slow = parse_stored_event(body), ReceivedEvent.model_validate_json(body)
    peeked = peek_stored_event(body)
    if slow.follows is not None:
        assert peeked is None
    elif peeked is not None:  # (None: another shape, which is parsed instead)
        assert peeked == (slow.id, slow.occurred, slow.received)
        assert type(peeked[0]) is type(slow.id) and peeked[0].is_safe == slow.id.is_safe
        assert peeked[1].tzinfo is timezone.utc and peeked[2].tzinfo is timezone.utc
    assert type(fast) is ReceivedEvent
    assert fast == slow
    assert _fields(fast) == _fields(slow)
    assert list(fast.__dict__) == list(slow.__dict__)
    assert fast.occurred.tzinfo is timezone.utc and fast.received.tzinfo is timezone.utc
    assert fast.__pydantic_fields_set__ == slow.__pydantic_fields_set__
    assert fast.__pydantic_extra__ == slow.__pydantic_extra__ and fast.__pydantic_private__ is None
    assert repr(fast) == repr(slow)
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.id.is_safe == slow.id.is_safe


# --- generated events -----------------------------------------------------------------------------------------
_text = st.text(max_size=6)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_labels = st.dictionaries(st.sampled_from(["prefect.resource.name", "env", "é", "a\"b", "},\"x\"],["]), _text,
                          max_size=3)
_when = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                     timezones=st.sampled_from([None, timezone.utc, timezone(timedelta(hours=2)),
                                                timezone(timedelta(hours=-5, minutes=-30))]))


@st.composite
def _events(draw: Any) -> Event:
    data: dict[str, Any] = {
        "event": draw(st.sampled_from(["x", "prefect.flow-run.Failed", "tocsin.automation.triggered", "é"])),
        "resource": {"prefect.resource.id": draw(st.text(min_size=1, max_size=8)), **draw(_labels)},
        "related": [{"prefect.resource.id": draw(st.text(min_size=1, max_size=5)),
                     "prefect.resource.role": draw(st.sampled_from(["flow", "tag"])), **labels}
                    for labels in draw(st.lists(_labels, max_size=3))],
        "payload": draw(st.dictionaries(_text, _json, max_size=4)),
        "occurred": draw(_when),
    }
    if draw(st.booleans()):
        data["follows"] = uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))
    if draw(st.booleans()):
        data["id"] = uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))
    return Event.model_validate(data)


@settings(max_examples=200, deadline=None)
@given(sent=st.lists(_events(), min_size=1, max_size=5), received=_when)
def test_sent_rows_are_what_they_were_and_read_back_as_validated(sent: list[Event], received: datetime) -> None:
    rows = sent_event_rows(sent, received)
    assert rows == _old_rows(sent, received)
    for event, row in zip(sent, rows):
        assert ReceivedEvent.model_validate_json(row[5]) == event.receive(received)
        _same_as_validated(row[5])


@settings(max_examples=100, deadline=None)
@given(event=_events(), received=_when)
def test_bodies_written_by_event_row_read_back_as_validated(event: Event, received: datetime) -> None:
    _same_as_validated(event_row(event.receive(received))["body"])


@settings(max_examples=100, deadline=None)
@given(event=_events(), occurred=_when, received=_when)
def test_naive_and_offset_datetimes_as_stored_read_back_as_utc(event: Event, occurred: datetime,
                                                               received: datetime) -> None:
    data = json.loads(sent_event_rows([event], RECEIVED)[0][5])
    data["occurred"], data["received"] = occurred.isoformat(), received.isoformat()
    _same_as_validated(json.dumps(data))


def test_other_shapes_are_validated_as_usual() -> None:
    base = json.loads(sent_event_rows([Event(event="x", resource={"prefect.resource.id": "r"})], RECEIVED)[0][5])
    reordered = {"event": base["event"], **base}
    missing = {k: v for k, v in base.items() if k != "follows"}
    extra = {**base, "extra": 1}
    upper = {**base, "id": base["id"].upper(), "follows": base["id"].replace("-", "")}
    stamp = {**base, "received": 1714557600}
    for data in (reordered, missing, extra, upper, stamp):
        _same_as_validated(json.dumps(data))


def test_one_request_with_many_events_and_tricky_payloads() -> None:
    sent = [Event(event="x", resource={"prefect.resource.id": f"r{i}"},
                  payload={"p": [{}, {"occurred": 1}], "s": '},"x"],[{"occurred":', "id": str(uuid.uuid4())},
                  follows=uuid.uuid4() if i % 3 else None) for i in range(250)]
    assert sent_event_rows(sent, RECEIVED) == _old_rows(sent, RECEIVED)
    assert sent_event_rows([], RECEIVED) == []


def test_a_received_event_in_the_list_is_handled_as_before() -> None:
    received = Event(event="x", resource={"prefect.resource.id": "r"}).receive(RECEIVED)
    plain = Event(event="y", resource={"prefect.resource.id": "r"})
    assert sent_event_rows([plain, received], RECEIVED) == _old_rows([plain, received], RECEIVED)


@given(st.datetimes(timezones=st.sampled_from([None, timezone.utc, timezone(timedelta(hours=-11, minutes=-59))])))
def test_to_us_is_the_exact_microsecond_count(when: datetime) -> None:
    try:
        expected = _old_to_us(when)
    except OverflowError:
        return
    assert to_us(when) == expected


def test_engine_written_bodies_that_follow_nothing_are_peeked() -> None:
    event = Event(event="x", resource={"prefect.resource.id": "r"}, payload={"follows": str(uuid.uuid4())})
    body = sent_event_rows([event], RECEIVED)[0][5]
    assert peek_stored_event(body) == (event.id, event.occurred, RECEIVED)
    follower = Event(event="x", resource={"prefect.resource.id": "r"}, follows=uuid.uuid4())
    assert peek_stored_event(sent_event_rows([follower], RECEIVED)[0][5]) is None
    assert peek_stored_event(body.replace('"received":"', '"received":"not a time')) is None
