"""Firings become outbox rows in the evaluation transaction (`plan`); `tocsin.delivery.dispatcher` sends them."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from tocsin.store import outbox as outbox_rows
from tocsin.store.timeutil import to_us
from tocsin.triggers import Firing

NAMESPACE = uuid.UUID("0b5f5a52-3d0e-4d55-8a4e-2f8f6c0f9a11")  # outbox row ids and outcome event ids


def plan(firings: list[Firing], firing_json: list[dict[str, Any]], triggered_rows: list[dict[str, Any]],
         docs: dict[str, dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Outbox rows for firings: `actions` with the firing's event, then `actions_on_trigger` with the
    tocsin.automation.triggered event (as Prefect does), numbered in that order."""
    rows = []
    now_us = to_us(now)
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
                "id": str(uuid.uuid5(NAMESPACE, f"{firing.id}:{index}")),
                "firing_id": str(firing.id),
                "automation_id": str(firing.automation_id),
                "action_index": index,
                "action": json.dumps({"action": action, "automation": automation, "firing": fj,
                                      "event": event, "triggered_event_id": triggered["id"]}),
                "destination": str(action.get("block_document_id") or action.get("type") or ""),
                "status": outbox_rows.PENDING,
                "attempts": 0,
                "next_attempt_us": now_us,
                "last_error": None,
                "created_us": now_us,
                "updated_us": now_us,
            })
    return rows
