"""Slack incoming webhooks: one JSON POST of `{"text": ...}`; Slack answers 200 "ok"."""

from __future__ import annotations

from tocsin.notifications.base import (
    DeliveryResult,
    HttpNotifier,
    redactor_for,
    require,
    resolve,
)
from tocsin.schemas.blocks import SlackWebhook


def slack_text(subject: str, body: str) -> str:
    """Subject as a bold first line (Slack mrkdwn), then the body."""
    return f"*{subject}*\n{body}" if subject else body


class SlackNotifier(HttpNotifier):
    channel = "Slack"


    async def asend(self, block: SlackWebhook, subject: str, body: str, *, delivery_id: str) -> DeliveryResult:
        url = require(resolve(block, "url", self.resolve_secret), "Slack webhook URL")
        return await self.http.arequest(
            "POST",
            url,
            json={"text": slack_text(subject, body)},
            delivery_id=delivery_id,
            channel=self.channel,
            redactor=redactor_for(block, [url]),
        )
