"""PagerDuty Events API v2: POST /v2/enqueue with a `trigger` event.

`dedup_key` is the idempotency key: a retried delivery updates the same alert instead of paging twice. It is
the delivery id unless the caller passes the firing id, which folds every action of one firing into one
incident.
"""

from __future__ import annotations

from typing import Any

from tocsin.errors import DeliveryError
from tocsin.notifications.base import (
    DeliveryResult,
    HttpNotifier,
    redactor_for,
    require,
)
from tocsin.schemas.actions import DEFAULT_SUBJECT
from tocsin.schemas.blocks import PagerDuty

SUMMARY_CHARS = 1024  # PagerDuty's limit on payload.summary


def pagerduty_event(
    block: PagerDuty, routing_key: str, subject: str, body: str, dedup_key: str
) -> dict[str, Any]:
    # The default subject says nothing; the body's first line is a better incident title then.
    summary = (
        subject if subject and subject != DEFAULT_SUBJECT else (body.strip().splitlines() or [subject])[0]
    )
    payload: dict[str, Any] = {
        "summary": summary[:SUMMARY_CHARS],
        "source": block.source,
        "severity": block.severity,
        "custom_details": {"body": body, **(block.custom_details or {})},
    }
    for field, key in (("component", "component"), ("group", "group"), ("class_id", "class")):
        if getattr(block, field):
            payload[key] = getattr(block, field)
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": payload,
        "client": "Tocsin",
    }
    if block.clickable_url:
        event["client_url"] = block.clickable_url
        event["links"] = [{"href": block.clickable_url, "text": "Details"}]
    return event


class PagerDutyNotifier(HttpNotifier):
    channel = "PagerDuty"


    def send(
        self, block: PagerDuty, subject: str, body: str, *, delivery_id: str, dedup_key: str | None = None
    ) -> DeliveryResult:
        try:
            key = block.key(self.resolve_secret)
        except Exception as exc:  # the resolver's message could quote the value
            raise DeliveryError(
                f"PagerDuty routing key could not be resolved ({type(exc).__name__})", permanent=True
            ) from None
        key = require(key, "PagerDuty routing key")
        url = block.base_url.rstrip("/") + "/v2/enqueue"
        event = pagerduty_event(block, key, subject, body, dedup_key or delivery_id)
        return self.http.request(
            "POST",
            url,
            json=event,
            delivery_id=delivery_id,
            channel=self.channel,
            redactor=redactor_for(block, [key]),
        )
