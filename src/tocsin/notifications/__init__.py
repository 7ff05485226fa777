"""Notification channels: one module per service, one `Notifier.send(block, subject, body, *, delivery_id)`
each. The HTTP ones (`HttpNotifier`) are written as the coroutine `asend`, which the dispatcher awaits on its
event loop; their `send` runs it with blocking requests.

Build one `HttpSender` per process and ask `notifier_for(block_type, http=..., resolve_secret=...)` for the
notifier of a block type. Notifiers keep no state between calls, so they may be cached per type.
"""

from __future__ import annotations

from typing import Any

from tocsin.errors import DeliveryError
from tocsin.notifications.apprise import AppriseNotifier
from tocsin.notifications.base import (
    DELIVERY_ID_HEADER,
    DeliveryResult,
    HttpSender,
    Notifier,
    SecretResolver,
    parse_retry_after,
)
from tocsin.notifications.email import EmailNotifier
from tocsin.notifications.pagerduty import PagerDutyNotifier
from tocsin.notifications.slack import SlackNotifier
from tocsin.notifications.teams import TeamsNotifier
from tocsin.notifications.twilio import TwilioNotifier
from tocsin.notifications.webhook import CallWebhookNotifier, CustomWebhookNotifier

NOTIFIERS: dict[str, type[Any]] = {
    "slack-webhook": SlackNotifier,
    "ms-teams-webhook": TeamsNotifier,
    "email": EmailNotifier,
    "twilio-sms": TwilioNotifier,
    "pager-duty": PagerDutyNotifier,
    "pager-duty-webhook": PagerDutyNotifier,
    "custom-webhook": CustomWebhookNotifier,
    "apprise": AppriseNotifier,
    "webhook": CallWebhookNotifier,
}

# Block types a `send-notification` action may point at (`webhook` is for `call-webhook` only).
NOTIFICATION_BLOCK_TYPES = frozenset(NOTIFIERS) - {"webhook"}


def notifier_for(
    block_type: str, *, http: HttpSender | None = None, resolve_secret: SecretResolver | None = None
) -> Notifier:
    """The notifier for a block type; DeliveryError(permanent=True) for a type that cannot notify."""
    cls = NOTIFIERS.get(block_type)
    if cls is None:
        raise DeliveryError(f"block type {block_type!r} cannot send notifications", permanent=True)
    if http is None and cls not in (EmailNotifier, AppriseNotifier):
        http = HttpSender()
    return cls(http=http, resolve_secret=resolve_secret)  # type: ignore[no-any-return]


__all__ = [
    "DELIVERY_ID_HEADER",
    "NOTIFICATION_BLOCK_TYPES",
    "NOTIFIERS",
    "AppriseNotifier",
    "CallWebhookNotifier",
    "CustomWebhookNotifier",
    "DeliveryResult",
    "EmailNotifier",
    "HttpSender",
    "Notifier",
    "PagerDutyNotifier",
    "SecretResolver",
    "SlackNotifier",
    "TeamsNotifier",
    "TwilioNotifier",
    "notifier_for",
    "parse_retry_after",
]
