"""Apprise URLs (100+ services) through the optional `apprise` package (`pip install 'tocsin[apprise]'`).

Apprise reports only success or failure, so a failure is treated as temporary and retried.
"""

from __future__ import annotations

from typing import Any

from tocsin.errors import DeliveryError
from tocsin.notifications.base import DeliveryResult, SecretResolver, require, resolve
from tocsin.schemas.blocks import Apprise


def _load_apprise() -> Any:
    try:
        import apprise  # type: ignore[import-not-found]
    except ImportError:
        raise DeliveryError(
            "apprise blocks need the optional 'apprise' package: pip install 'tocsin[apprise]'",
            permanent=True,
        ) from None
    return apprise


class AppriseNotifier:
    channel = "Apprise"

    def __init__(self, *, resolve_secret: SecretResolver | None = None, **_: object) -> None:
        self.resolve_secret = resolve_secret

    def send(self, block: Apprise, subject: str, body: str, *, delivery_id: str) -> DeliveryResult:
        apprise = _load_apprise()
        url = require(resolve(block, "url", self.resolve_secret), "Apprise URL")
        sender = apprise.Apprise()
        if not sender.add(url):
            raise DeliveryError("Apprise does not understand the configured URL", permanent=True)
        ok = sender.notify(title=subject, body=body, notify_type=block.notify_type)
        if not ok:
            raise DeliveryError("Apprise reported a failed notification")
        return DeliveryResult(None, f"sent through Apprise ({delivery_id})")
