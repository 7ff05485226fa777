"""The engine's own events (tocsin.automation.*): automation lifecycle and firings. They are ordinary events,
stored and evaluated like any other, so automations can alert on them (meta-alerting)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from tocsin.schemas.events import ReceivedEvent
from tocsin.store.events import event_row
from tocsin.store.timeutil import to_us
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
    trigger = firing.trigger
    aid = str(firing.automation_id)
    resource = {"prefect.resource.id": automation_resource_id(aid), "prefect.resource.name": name}
    posture = getattr(trigger, "posture", None)
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
    event_id = str(uuid.uuid5(_NAMESPACE, f"{firing.id}:triggered"))
    # the same JSON (keys in the same order) as json.dumps of the event dict, written out piecewise so the
    # triggering event's JSON is not parsed and serialised again
    body = "".join((
        '{"occurred":"', _iso(firing.triggered), '","event":"', TRIGGERED, '","resource":', _dumps(resource),
        ',"related":', _dumps(related), ',"payload":{"firing_id":"', str(firing.id), '","triggering_labels":',
        _dumps(dict(firing.triggering_labels)), ',"triggering_event":', triggering_json, '},"id":"', event_id,
        '","follows":null,"received":"', _iso(now), '"}',
    ))
    return {"id": event_id, "occurred_us": to_us(firing.triggered), "received_us": to_us(now), "event": TRIGGERED,
            "resource_id": resource["prefect.resource.id"], "body": body}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def is_about_own_outcome(firing: Firing) -> bool:
    """True when the firing was caused (directly or through composite children) by an event about this
    automation's own firings or actions."""
    own = automation_resource_id(firing.automation_id)
    stack = [firing]
    while stack:
        f = stack.pop()
        e = f.triggering_event
        if e is not None and e.event.startswith(OWN_OUTCOME_PREFIXES) and e.resource.get("prefect.resource.id") == own:
            return True
        stack.extend(f.triggering_firings)
    return False
