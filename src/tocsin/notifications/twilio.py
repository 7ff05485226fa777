"""Twilio SMS: POST /2010-04-01/Accounts/{sid}/Messages.json once per number, basic auth (sid, token).

Numbers are sent in order and the first failure stops the delivery. Twilio has no idempotency key for
messages, so a retry after a partial failure re-sends to the numbers that already got it; the error says how
many did.
"""

from __future__ import annotations

from typing import Any

import re

from tocsin.errors import DeliveryError
from tocsin.notifications.base import (
    DeliveryResult,
    HttpNotifier,
    redactor_for,
    require,
    resolve,
)
from tocsin.schemas.blocks import TwilioSms

SMS_CHARS = 1600  # Twilio rejects longer bodies
_MESSAGE_SID = re.compile(r'"sid"\s*:\s*"(\w+)"')


def sms_text(subject: str, body: str) -> str:
    text = f"{subject}\n{body}" if subject else body
    return text[:SMS_CHARS]


class TwilioNotifier(HttpNotifier):
    channel = "Twilio"


    async def asend(self, block: TwilioSms, subject: str, body: str, *, delivery_id: str,
             progress: dict[str, Any] | None = None) -> DeliveryResult:
        """One message per number. `progress` ({"reached": [...]}, from an earlier attempt of this delivery)
        names numbers that already got it: they are skipped, and a failure part-way reports the numbers
        reached so far in its DeliveryError's `progress`."""
        token = require(resolve(block, "auth_token", self.resolve_secret), "Twilio auth token")
        url = f"{block.api_base_url.rstrip('/')}/2010-04-01/Accounts/{block.account_sid}/Messages.json"
        sender = (
            {"MessagingServiceSid": block.messaging_service_sid}
            if block.messaging_service_sid
            else {"From": block.from_phone_number or ""}
        )
        redactor = redactor_for(block, [token])
        reached = list((progress or {}).get("reached") or [])
        sids, status = [], None
        for number in block.to_phone_numbers:
            if number in reached:
                continue
            form = {"To": number, **sender, "Body": sms_text(subject, body)}
            try:
                result = await self.http.arequest(
                    "POST",
                    url,
                    data=form,
                    auth=(block.account_sid, token),
                    delivery_id=delivery_id,
                    channel=self.channel,
                    redactor=redactor,
                )
            except DeliveryError as exc:
                if reached:
                    exc.args = (
                        f"{exc.args[0]} (after sending to {len(reached)} of {len(block.to_phone_numbers)} numbers)",
                    )
                    exc.progress = {"reached": reached}
                raise
            reached.append(number)
            status = result.status_code
            match = _MESSAGE_SID.search(result.response_excerpt)
            sids.append(match.group(1) if match else "?")
        return DeliveryResult(status, "message sids: " + ",".join(sids))
