"""Per-firing work: a firing's id texts are cached without ever going stale, and the
tocsin.automation.triggered event is byte for byte what the plain json.dumps/uuid5 version wrote."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.schemas.events import ReceivedEvent
from tocsin.schemas.triggers import parse_trigger
from tocsin.server import self_events
from tocsin.store.events import engine_event_id
from tocsin.store.timeutil import to_us
from tocsin.triggers import Firing

NAMESPACE = uuid.UUID("5d1b1b0e-6f0e-4e57-9a57-7c0c51a2b0c4")
NOW = datetime(2024, 5, 1, 10, 0, 0, 5, tzinfo=timezone.utc)


def _old_iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _old_triggered_event(firing: Firing, name: str, now: datetime, triggering_json: str | None) -> dict[str, Any]:
    """The row as it was built before (json.dumps per part, uuid.uuid5, str(UUID) at each use)."""
    dumps = lambda value: json.dumps(value, separators=(",", ":"))  # noqa: E731
    aid = str(firing.automation_id)
    resource = {"prefect.resource.id": f"prefect.automation.{aid}", "prefect.resource.name": name}
    posture = getattr(firing.trigger, "posture", None)
    if posture is not None:
        resource["prefect.posture"] = getattr(posture, "value", str(posture))
    related = []
    triggering = firing.triggering_event
    if triggering is not None:
        related.append({"prefect.resource.id": f"prefect.event.{triggering.id}",
                        "prefect.resource.role": "triggering-event"})
        if triggering_json is None:
            triggering_json = triggering.model_dump_json()
    else:
        triggering_json = "null"
    event_id = str(uuid.uuid5(NAMESPACE, f"{firing.id}:triggered"))
    body = "".join((
        '{"occurred":"', _old_iso(firing.triggered), '","event":"', self_events.TRIGGERED, '","resource":',
        dumps(resource), ',"related":', dumps(related), ',"payload":{"firing_id":"', str(firing.id),
        '","triggering_labels":', dumps(dict(firing.triggering_labels)), ',"triggering_event":', triggering_json,
        '},"id":"', event_id, '","follows":null,"received":"', _old_iso(now), '"}',
    ))
    return {"id": event_id, "occurred_us": to_us(firing.triggered), "received_us": to_us(now),
            "event": self_events.TRIGGERED, "resource_id": resource["prefect.resource.id"], "body": body}


_TRIGGERS = [
    parse_trigger({"type": "event", "expect": ["x"], "posture": "Reactive", "threshold": 1, "within": 0}),
    parse_trigger({"type": "event", "expect": ["x"], "posture": "Proactive", "threshold": 1, "within": 10}),
    parse_trigger({"type": "compound", "require": "any",
                   "triggers": [{"type": "event", "expect": ["x"], "posture": "Reactive", "threshold": 1}]}),
    None,
]
_uuids = st.integers(0, 2**128 - 1).map(lambda i: uuid.UUID(int=i))
_when = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.sampled_from([None, timezone.utc, timezone(timedelta(hours=5, minutes=30))]))


@st.composite
def _firings(draw: Any) -> tuple[Firing, str | None]:
    event = None
    body = None
    if draw(st.booleans()):
        event = ReceivedEvent.model_validate({
            "id": str(draw(_uuids)), "event": "x", "resource": {"prefect.resource.id": "r"},
            "payload": draw(st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)),
            "occurred": "2024-05-01T10:00:00Z", "received": "2024-05-01T10:00:01Z"})
        body = event.model_dump_json() if draw(st.booleans()) else None
    firing = Firing(automation_id=draw(_uuids), trigger_path="", trigger=draw(st.sampled_from(_TRIGGERS)),
                    triggered=draw(_when), triggering_event=event, id=draw(_uuids),
                    triggering_labels=draw(st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3)))
    return firing, body


@settings(max_examples=200, deadline=None)
@given(made=_firings(), name=st.text(max_size=8), now=_when)
def test_the_triggered_event_row_is_what_it_was(made: tuple[Firing, str | None], name: str, now: datetime) -> None:
    firing, body = made
    expected = _old_triggered_event(firing, name, now, body)
    assert self_events.triggered_event(firing, name, now, body) == expected
    assert self_events.triggered_event(firing, name, now, body) == expected  # again, with the cached texts
    json.loads(expected["body"])


@given(_uuids)
def test_engine_event_id_is_uuid5(value: uuid.UUID) -> None:
    name = f"{value}:triggered"
    assert engine_event_id(NAMESPACE, name) == str(uuid.uuid5(NAMESPACE, name))


def test_id_texts_follow_the_ids() -> None:
    firing = Firing(automation_id=uuid.uuid4(), trigger_path="", trigger=None, triggered=NOW)
    assert (firing.id_text, firing.automation_id_text) == (str(firing.id), str(firing.automation_id))
    copy = dataclasses.replace(firing, trigger=None)
    assert (copy.id_text, copy.automation_id_text) == (str(firing.id), str(firing.automation_id))
    other = dataclasses.replace(firing, id=uuid.uuid4())
    assert other.id_text == str(other.id) != firing.id_text
    firing.automation_id = uuid.uuid4()
    assert firing.automation_id_text == str(firing.automation_id)
    assert firing.to_json()["automation_id"] == str(firing.automation_id)
    assert firing == dataclasses.replace(firing, _id_texts=None)  # the cache is not part of equality
    assert "_id_texts" not in repr(firing)
    assert Firing.from_json(firing.to_json()).to_json() == firing.to_json()
