"""Firings become outbox rows in the evaluation transaction (`plan`); `tocsin.delivery.dispatcher` sends them.

An outbox row's `action` is the JSON document the dispatcher renders from: the action, the automation, the
firing, the event and the triggered event's id. It is written piecewise from JSON texts made once (each
automation's and action's when the automation document changes, each firing's and event's by the evaluation
step), since this runs for every action of every firing.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from tocsin.store import outbox as outbox_rows
from tocsin.store.events import engine_event_id
from tocsin.store.timeutil import to_us
from tocsin.triggers import Firing

NAMESPACE = uuid.UUID("0b5f5a52-3d0e-4d55-8a4e-2f8f6c0f9a11")  # outbox row ids and outcome event ids
_AUTOMATION_FIELDS = ("id", "name", "description", "tags", "trigger")


def plan(firings: list[Firing], firing_json: list[dict[str, Any] | str], triggered_rows: list[dict[str, Any]],
         docs: dict[str, dict[str, Any]], now: datetime,
         event_json: list[str | None] | None = None) -> list[dict[str, Any]]:
    """Outbox rows for firings: `actions` with the firing's event, then `actions_on_trigger` with the
    tocsin.automation.triggered event (as Prefect does), numbered in that order.

    `firing_json`: each firing's `to_json()`, or that as JSON text; `event_json`: the JSON texts of the
    firings' triggering events (None: no event), needed with texts (taken from the dicts otherwise)."""
    rows = []
    now_us = to_us(now)
    for i, (firing, fj, triggered) in enumerate(zip(firings, firing_json, triggered_rows)):
        automation_id = firing.automation_id_text
        texts = _texts(docs.get(automation_id))
        if texts is None:
            continue
        automation, actions, on_trigger = texts
        if isinstance(fj, dict):
            firing_text, event_text = json.dumps(fj), json.dumps(fj.get("triggering_event"))
        else:
            event = event_json[i] if event_json is not None else None
            firing_text, event_text = fj, "null" if event is None else event
        firing_id = firing.id_text
        tail = ',"automation":' + automation + ',"firing":' + firing_text + ',"event":'
        end = ',"triggered_event_id":' + json.dumps(triggered["id"]) + "}"
        items = [(a, event_text) for a in actions] + [(a, triggered["body"]) for a in on_trigger]
        for index, ((action, destination), event) in enumerate(items):
            rows.append({
                "id": engine_event_id(NAMESPACE, f"{firing_id}:{index}"),  # str(uuid.uuid5(...))
                "firing_id": firing_id,
                "automation_id": automation_id,
                "action_index": index,
                "action": '{"action":' + action + tail + event + end,
                "destination": destination,
                "status": outbox_rows.PENDING,
                "attempts": 0,
                "next_attempt_us": now_us,
                "last_error": None,
                "created_us": now_us,
                "updated_us": now_us,
            })
    return rows


_Texts = tuple[str, list[tuple[str, str]], list[tuple[str, str]]]
_by_automation: dict[str, tuple[dict[str, Any], _Texts | None]] = {}  # id -> (its document, its texts)


def _texts(doc: dict[str, Any] | None) -> _Texts | None:
    """An automation document's JSON, and each action's JSON and destination (`actions`, then
    `actions_on_trigger`); None without a document or actions. Kept while the same document object is given."""
    if doc is None:
        return None
    cached = _by_automation.get(doc["id"])
    if cached is not None and cached[0] is doc:
        return cached[1]
    texts: _Texts | None = None
    if doc.get("actions") or doc.get("actions_on_trigger"):
        texts = (json.dumps({k: doc.get(k) for k in _AUTOMATION_FIELDS}),
                 [_action(a) for a in doc.get("actions") or []],
                 [_action(a) for a in doc.get("actions_on_trigger") or []])
    if len(_by_automation) > 10_000:
        _by_automation.clear()
    _by_automation[doc["id"]] = (doc, texts)
    return texts


def _action(action: dict[str, Any]) -> tuple[str, str]:
    return json.dumps(action), str(action.get("block_document_id") or action.get("type") or "")
