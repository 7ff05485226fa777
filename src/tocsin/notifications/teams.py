"""Microsoft Teams through a Power Automate "Workflows" webhook: an Adaptive Card in a message attachment.

The retired Office 365 connector took MessageCards; Workflows take the `message` envelope below and answer
202.
"""

from __future__ import annotations

from typing import Any

from tocsin.notifications.base import (
    DeliveryResult,
    HttpNotifier,
    redactor_for,
    require,
    resolve,
)
from tocsin.schemas.blocks import MsTeamsWebhook

ADAPTIVE_CARD_VERSION = "1.4"  # the newest version every Teams client renders


def adaptive_card_message(subject: str, body: str, *, wrap: bool = True) -> dict[str, Any]:
    elements: list[dict[str, Any]] = []
    if subject:
        elements.append(
            {"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": wrap}
        )
    elements.append({"type": "TextBlock", "text": body, "wrap": wrap})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": elements,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


class TeamsNotifier(HttpNotifier):
    channel = "Microsoft Teams"


    async def asend(self, block: MsTeamsWebhook, subject: str, body: str, *, delivery_id: str) -> DeliveryResult:
        url = require(resolve(block, "url", self.resolve_secret), "Teams Workflows URL")
        return await self.http.arequest(
            "POST",
            url,
            json=adaptive_card_message(subject, body, wrap=block.wrap),
            delivery_id=delivery_id,
            channel=self.channel,
            redactor=redactor_for(block, [url]),
        )
