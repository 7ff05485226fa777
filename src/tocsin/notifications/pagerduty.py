"""PagerDuty Events API v2: POST /v2/enqueue with a `trigger` event.

`dedup_key` is the idempotency key: a retried delivery updates the same alert instead of paging twice. The
block's `dedup` chooses it: "firing" (default) is the `dedup_key` the caller passes, the firing id (the
dispatcher does), which folds every action of one firing into one incident (the delivery id when the caller
passes none); "automation" is the automation's id (every firing of it updates one incident until it is
resolved in PagerDuty); "delivery" is the delivery id; "template" renders `dedup_key_template`
(`{{firing_id}}`, `{{automation_id}}`, `{{delivery_id}}`, `{{subject}}`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from tocsin.errors import DeliveryError
from tocsin.notifications.base import (
    DeliveryResult,
    HttpNotifier,
    redactor_for,
    require,
)
from tocsin.schemas.actions import DEFAULT_SUBJECT
from tocsin.schemas.blocks import DEDUP_PLACEHOLDERS, PagerDuty

SUMMARY_CHARS = 1024  # PagerDuty's limit on payload.summary
DEDUP_KEY_CHARS = 255  # PagerDuty's limit on dedup_key
_DEDUP_PLACEHOLDER = re.compile(r"\{\{\s*(" + "|".join(DEDUP_PLACEHOLDERS) + r")\s*\}\}")


def dedup_key_for(block: PagerDuty, *, delivery_id: str, firing_id: str | None, subject: str,
                  automation_id: str | None = None) -> str:
    """The event's dedup_key under the block's `dedup` setting. A rendered template longer than PagerDuty's
    255 characters becomes "sha256:<hex of it>"; one that renders empty falls back to the firing id."""
    firing = firing_id or delivery_id
    if block.dedup == "delivery":
        return delivery_id
    if block.dedup == "automation":
        return f"tocsin-automation-{automation_id}" if automation_id else firing
    if block.dedup == "template" and block.dedup_key_template:
        values = {"firing_id": firing, "delivery_id": delivery_id, "subject": subject,
                  "automation_id": automation_id or ""}
        key = _DEDUP_PLACEHOLDER.sub(lambda m: values[m.group(1)], block.dedup_key_template).strip()
        if len(key) > DEDUP_KEY_CHARS:
            return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        return key or firing
    return firing


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

    async def asend(
        self, block: PagerDuty, subject: str, body: str, *, delivery_id: str, dedup_key: str | None = None,
        automation_id: str | None = None,
    ) -> DeliveryResult:
        """`dedup_key` is the firing id and `automation_id` the automation's (what the dispatcher passes); the
        block's `dedup` decides which is used."""
        try:
            key = block.key(self.resolve_secret)
        except Exception as exc:  # the resolver's message could quote the value
            raise DeliveryError(
                f"PagerDuty routing key could not be resolved ({type(exc).__name__})", permanent=True
            ) from None
        key = require(key, "PagerDuty routing key")
        url = block.base_url.rstrip("/") + "/v2/enqueue"
        dedup = dedup_key_for(block, delivery_id=delivery_id, firing_id=dedup_key, subject=subject,
                              automation_id=automation_id)
        event = pagerduty_event(block, key, subject, body, dedup)
        return await self.http.arequest(
            "POST",
            url,
            json=event,
            delivery_id=delivery_id,
            channel=self.channel,
            redactor=redactor_for(block, [key]),
        )
