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


# --- a firing's JSON and its outbox rows, written piecewise ---------------------------------------------------
def _trigger_json(firing: Firing) -> str:
    return json.dumps(firing.trigger.model_dump(mode="json")) if firing.trigger is not None else "null"


@settings(max_examples=200, deadline=None)
@given(made=_firings(), value=st.sampled_from([None, 0.25]), child=st.booleans())
def test_the_firing_json_text_has_the_content_of_to_json(made: tuple[Firing, str | None], value: Any,
                                                          child: bool) -> None:
    firing, body = made
    firing.triggering_value = value
    if child:
        firing.triggering_firings = [dataclasses.replace(firing, id=uuid.uuid4())]
    text = firing.to_json_text(_trigger_json(firing), body)
    assert json.loads(text) == json.loads(json.dumps(firing.to_json()))
    assert firing.to_json_text(_trigger_json(firing), body) == text  # again, with the cached time text


def _old_plan(firings: list[Firing], firing_json: list[dict[str, Any]], triggered_rows: list[dict[str, Any]],
              docs: dict[str, dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """`plan` as it was: every action document through json.dumps, uuid.uuid5 for each row id."""
    from tocsin.delivery.planner import NAMESPACE

    rows = []
    for firing, fj, triggered in zip(firings, firing_json, triggered_rows):
        doc = docs.get(str(firing.automation_id))
        if doc is None or not (doc.get("actions") or doc.get("actions_on_trigger")):
            continue
        automation = {k: doc.get(k) for k in ("id", "name", "description", "tags", "trigger")}
        triggered_body = json.loads(triggered["body"])
        items = [(a, fj.get("triggering_event")) for a in doc.get("actions") or []]
        items += [(a, triggered_body) for a in doc.get("actions_on_trigger") or []]
        for index, (action, event) in enumerate(items):
            rows.append({
                "id": str(uuid.uuid5(NAMESPACE, f"{firing.id}:{index}")), "firing_id": str(firing.id),
                "automation_id": str(firing.automation_id), "action_index": index,
                "action": json.dumps({"action": action, "automation": automation, "firing": fj,
                                      "event": event, "triggered_event_id": triggered["id"]}),
                "destination": str(action.get("block_document_id") or action.get("type") or ""),
                "status": "pending", "attempts": 0, "next_attempt_us": to_us(now), "last_error": None,
                "created_us": to_us(now), "updated_us": to_us(now),
            })
    return rows


_actions = st.lists(st.sampled_from([
    {"type": "call-webhook", "block_document_id": "b1", "payload": "{{ event.id }} é \"q\""},
    {"type": "do-nothing"},
    {"type": "send-notification", "block_document_id": "b2", "subject": "s", "body": "x"},
]), max_size=2)


@settings(max_examples=150, deadline=None)
@given(made=st.lists(_firings(), min_size=1, max_size=4), actions=_actions, on_trigger=_actions,
       name=st.text(max_size=5), known=st.booleans())
def test_outbox_rows_are_what_they_were(made: list[tuple[Firing, str | None]], actions: list[dict[str, Any]],
                                        on_trigger: list[dict[str, Any]], name: str, known: bool) -> None:
    from tocsin.delivery.planner import plan

    firings = [f for f, _ in made]
    bodies = [body if body is not None or f.triggering_event is None else f.triggering_event.model_dump_json()
              for f, body in made]
    docs = {f.automation_id_text: {"id": f.automation_id_text, "name": name, "description": "", "tags": ["t"],
                                   "trigger": {"type": "event"}, "actions": actions,
                                   "actions_on_trigger": on_trigger} for f in firings[:len(firings) - 1 + known]}
    triggered = [self_events.triggered_event(f, name, NOW, body) for f, body in made]
    old = _old_plan(firings, [f.to_json() for f in firings], triggered, docs, NOW)
    texts = [f.to_json_text(_trigger_json(f), body) for f, body in zip(firings, bodies)]
    for new in (plan(firings, texts, triggered, docs, NOW, event_json=bodies),
                plan(firings, texts, triggered, docs, NOW, event_json=bodies),  # the documents' texts cached
                plan(firings, [f.to_json() for f in firings], triggered, docs, NOW)):
        assert [{**r, "action": json.loads(r["action"])} for r in new] == [
            {**r, "action": json.loads(r["action"])} for r in old]
