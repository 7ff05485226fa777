"""Small builders shared by the server tests."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any


def event(name: str = "test.ping", resource_id: str = "test.thing.1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "event": name,
        "occurred": datetime.now(timezone.utc).isoformat(),
        "resource": {"prefect.resource.id": resource_id},
    }
    body.update(extra)
    return body


def reactive(expect: str = "test.ping", threshold: int = 1, within: float = 0, **extra: Any) -> dict[str, Any]:
    return {"type": "event", "posture": "Reactive", "expect": [expect], "threshold": threshold,
            "within": within, **extra}


def automation(name: str, trigger: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "trigger": trigger, "actions": [{"type": "do-nothing"}], **extra}


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def firings(client: Any, automation_id: str) -> list[dict[str, Any]]:
    return client.get(f"/automations/{automation_id}/state").json()["recent_firings"]
