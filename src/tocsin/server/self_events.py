"""The engine's own events (tocsin.automation.*): automation lifecycle and firings. They are ordinary events,
stored and evaluated like any other, so automations can alert on them (meta-alerting)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from tocsin.schemas.events import ReceivedEvent
from tocsin.store.events import engine_event_id, event_row
from tocsin.store.timeutil import iso_z, to_us
from tocsin.triggers import Firing

CREATED = "tocsin.automation.created"
UPDATED = "tocsin.automation.updated"
DELETED = "tocsin.automation.deleted"
TRIGGERED = "tocsin.automation.triggered"
LIFECYCLE = frozenset({CREATED, UPDATED, DELETED})
# events about an automation's own firings and actions: that automation never fires on them (loop protection)
OWN_OUTCOME_PREFIXES = ("tocsin.automation.triggered", "tocsin.automation.action.",
                        "prefect.automation.triggered", "prefect.automation.action.")

_NAMESPACE = uuid.UUID("5d1b1b0e-6f0e-4e57-9a57-7c0c51a2b0c4")


def automation_resource_id(automation_id: str | uuid.UUID) -> str:
    return f"prefect.automation.{automation_id}"


def automation_id_of(event: ReceivedEvent) -> str | None:
    rid = event.resource.get("prefect.resource.id", "")
    return rid[len("prefect.automation."):] if rid.startswith("prefect.automation.") else None


def lifecycle_event(kind: str, automation: dict[str, Any], now: datetime) -> dict[str, Any]:
    event = ReceivedEvent(
        id=uuid.uuid4(),
        occurred=now,
        received=now,
        event=kind,
        resource={"prefect.resource.id": automation_resource_id(automation["id"]),
                  "prefect.resource.name": automation.get("name", "")},
        payload={},
    )
    return event_row(event)


def triggered_event(firing: Firing, name: str, now: datetime, triggering_json: str | None = None) -> dict[str, Any]:
    """The tocsin.automation.triggered event row for a firing (built directly: this runs once per firing).

    `triggering_json` is the triggering event's stored JSON when the caller has it (the evaluation step read
    it from `events`): it is spliced into the payload as is instead of being serialised again."""
    posture = getattr(firing.trigger, "posture", None)
    if posture is not None:
        value = getattr(posture, "value", _MISSING)
        posture = str(posture) if value is _MISSING else value
    resource_id, resource = _resource(firing.automation_id_text, name, posture)
    triggering = firing.triggering_event
    if triggering is not None:
        related = ('[{"prefect.resource.id":' + _json(f"prefect.event.{triggering.id}")
                   + ',"prefect.resource.role":"triggering-event"}]')
        if triggering_json is None:
            triggering_json = triggering.model_dump_json()
    else:
        related = "[]"
        triggering_json = "null"
    firing_id = firing.id_text
    event_id = engine_event_id(_NAMESPACE, f"{firing_id}:triggered")
    labels = firing.triggering_labels
    now_iso, now_us = _now_stamps(now)
    # the same JSON (keys in the same order) as json.dumps of the event dict with separators (",", ":"),
    # written out piecewise so the triggering event's JSON is not parsed and serialised again
    body = "".join((
        '{"occurred":"', iso_z(firing.triggered), '","event":"', TRIGGERED, '","resource":', resource,
        ',"related":', related, ',"payload":{"firing_id":"', firing_id, '","triggering_labels":',
        _COMPACT.encode(labels if type(labels) is dict else dict(labels)) if labels else "{}",
        ',"triggering_event":',
        triggering_json, '},"id":"', event_id, '","follows":null,"received":"', now_iso, '"}',
    ))
    return {"id": event_id, "occurred_us": to_us(firing.triggered), "received_us": now_us, "event": TRIGGERED,
            "resource_id": resource_id, "body": body}


_MISSING = object()
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # what json.dumps(value, separators=(",", ":")) uses
_last_now: tuple[datetime, str, int] | None = None


_resources: dict[tuple[str, str, Any], tuple[str, str]] = {}


def _resource(automation_id: str, name: str, posture: Any) -> tuple[str, str]:
    """An automation's resource id and the JSON of its resource labels, made once per automation name and
    posture."""
    key = (automation_id, name, posture)
    found = _resources.get(key)
    if found is None:
        if len(_resources) > 10_000:
            _resources.clear()
        resource_id = automation_resource_id(automation_id)
        text = '{"prefect.resource.id":' + _json(resource_id) + ',"prefect.resource.name":' + _json(name)
        if posture is not None:
            text += ',"prefect.posture":' + _json(posture)
        found = _resources[key] = (resource_id, text + "}")
    return found


def _json(value: Any) -> str:
    return encode_basestring_ascii(value) if isinstance(value, str) else _COMPACT.encode(value)


def _now_stamps(now: datetime) -> tuple[str, int]:
    """`iso_z(now)` and `to_us(now)`, kept for the last `now` (one evaluation step stamps all its firings)."""
    global _last_now
    last = _last_now
    if last is None or last[0] is not now:
        last = _last_now = (now, iso_z(now), to_us(now))
    return last[1], last[2]


def is_about_own_outcome(firing: Firing) -> bool:
    """True when the firing was caused (directly or through composite children) by an event about this
    automation's own firings or actions."""
    stack = [firing]
    while stack:
        f = stack.pop()
        e = f.triggering_event
        if (e is not None and e.event.startswith(OWN_OUTCOME_PREFIXES)
                and e.resource.get("prefect.resource.id") == automation_resource_id(firing.automation_id_text)):
            return True
        stack.extend(f.triggering_firings)
    return False
