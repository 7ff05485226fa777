"""Drills: one real, `[TEST]`-marked notification per notifying action of an automation, sent through the same
outbox and dispatcher as a firing's, to prove the whole path (block, secrets, network, receiver) works.

1. every `send-notification` and `call-webhook` action (of `actions`, then `actions_on_trigger`, numbered as a
   firing numbers them) gets one outbox row flagged `drill`, with a fresh delivery id;
2. the rows render against a sample event made up from the trigger (as `tocsin preview` does);
3. at send time subject and body get a "[TEST] " prefix; a webhook payload is left as is (it is often JSON)
   and the request carries `X-Tocsin-Test: true` instead;
4. other actions (pause an automation, cancel a flow run, ...) would change things, so a drill skips them.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from tocsin.store.timeutil import to_us

PREFIX = "[TEST] "
TEST_HEADER = "X-Tocsin-Test"
DRILLED_TYPES = ("send-notification", "call-webhook")


def mark_rendered(kind: str, rendered: dict[str, Any]) -> dict[str, Any]:
    """A rendered action as a drill sends it (rule 3)."""
    out = dict(rendered)
    if kind == "send-notification":
        out["subject"] = PREFIX + str(out.get("subject") or "")
        out["body"] = PREFIX + str(out.get("body") or "")
    elif kind == "call-webhook":
        out["headers"] = {**(out.get("headers") or {}), TEST_HEADER: "true"}
    return out


def plan_drill(doc: dict[str, Any], now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(outbox rows, skipped actions) for a drill of the automation document `doc`."""
    from tocsin.commands.preview import sample_event
    from tocsin.schemas.triggers import parse_trigger
    from tocsin.triggers import Firing

    trigger = parse_trigger(doc["trigger"])
    event = sample_event(trigger)
    firing = Firing(
        automation_id=uuid.UUID(doc["id"]),
        trigger_path="",
        trigger=trigger,
        triggered=now,
        triggering_event=event,
    )
    firing_json = firing.to_json()
    event_json = json.loads(event.model_dump_json())
    automation = {k: doc.get(k) for k in ("id", "name", "description", "tags", "trigger")}
    items = [("actions", i, a) for i, a in enumerate(doc.get("actions") or [])]
    items += [("actions_on_trigger", i, a) for i, a in enumerate(doc.get("actions_on_trigger") or [])]
    rows, skipped = [], []
    now_us = to_us(now)
    for index, (field, i, action) in enumerate(items):
        if action.get("type") not in DRILLED_TYPES:
            skipped.append(
                {
                    "path": f"{field}[{i}]",
                    "type": action.get("type"),
                    "reason": "a drill only sends notifications and webhooks",
                }
            )
            continue
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "firing_id": str(firing.id),
                "automation_id": doc["id"],
                "action_index": index,
                "action": json.dumps(
                    {
                        "action": action,
                        "automation": automation,
                        "firing": firing_json,
                        "event": event_json,
                        "triggered_event_id": str(firing.id),
                        "drill": True,
                        "path": f"{field}[{i}]",
                    }
                ),
                "destination": str(action.get("block_document_id") or action.get("type") or ""),
                "status": "pending",
                "attempts": 0,
                "next_attempt_us": now_us,
                "last_error": None,
                "created_us": now_us,
                "updated_us": now_us,
            }
        )
    return rows, skipped
