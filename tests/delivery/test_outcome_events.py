"""The dispatcher writes its outcome events as JSON directly (no pydantic round-trip): they must read back as the
ReceivedEvent the old code built, and the old import names must keep working."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from tocsin.delivery.dispatcher import Dispatcher, _Claimed
from tocsin.delivery.planner import NAMESPACE
from tocsin.schemas.events import ReceivedEvent
from tocsin.secrets import Redactor


def test_outcome_event_rows_are_received_events() -> None:
    secret = "hunter2-secret-value"
    dispatcher = Dispatcher.__new__(Dispatcher)
    dispatcher._redact = Redactor([secret]).redact
    row = _Claimed(str(uuid.uuid4()), 2, "{}", "dest", 0)
    event_id = str(uuid.uuid4())
    item = {
        "action": {"type": "call-webhook"},
        "automation": {"id": str(uuid.uuid4()), "name": "naïve \"quoted\""},
        "event": {"id": event_id},
        "triggered_event_id": str(uuid.uuid4()),
        "template_error": f"line 1: {secret}",
        "drill": True,
    }
    now = datetime(2026, 11, 23, 14, 0, 0, 123456, tzinfo=UTC)
    rows = dispatcher._outcome_events(row, item, "dead", f"webhook answered HTTP 500: {secret}", 500, 3, now)
    assert [r[3] for r in rows] == ["tocsin.automation.action.triggered", "tocsin.automation.action.failed"]
    for ident, occurred_us, received_us, name, resource_id, body in rows:
        event = ReceivedEvent.model_validate_json(body)
        assert str(event.id) == ident == str(uuid.uuid5(NAMESPACE, f"{row.id}:{name.rsplit('.', 1)[1]}"))
        assert event.event == name and event.occurred == event.received == now
        assert occurred_us == received_us == int(now.timestamp() * 1e6)
        assert resource_id == event.resource["prefect.resource.id"] == f"prefect.automation.{item['automation']['id']}"
        assert event.resource["prefect.resource.name"] == item["automation"]["name"]
        assert [r["prefect.resource.role"] for r in event.related] == ["automation-triggered-event", "triggering-event"]
        assert event.payload["status_code"] == 500 and event.payload["attempts"] == 3
        assert event.payload["invocation"] == row.id and event.payload["action_index"] == 2
        assert event.payload["drill"] is True
        assert secret not in body and "HTTP 500" in event.payload["reason"]
        # what the pydantic model itself would write
        assert json.loads(event.model_dump_json()) == json.loads(body)

