"""HTTP webhooks: `custom-webhook` blocks (send-notification) and `webhook` blocks (call-webhook).

Both treat any non-2xx answer as a failure (seed 000: "expects a 200 OK response or the action will be marked
as failed"), with the retry rules of `base`.

custom-webhook follows Prefect's block: `{{subject}}`, `{{body}}`, `{{name}}` and each key of `secrets` are
replaced in url, params, headers, cookies, json_data/form_data and body. This is plain substitution, not
Jinja: the subject and body were rendered by the action already. Without json_data, form_data or body the
request carries `{"subject": ..., "body": ...}` as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import orjson

from tocsin.notifications.base import (
    DeliveryResult,
    HttpNotifier,
    redactor_for,
    require,
    resolve,
)
from tocsin.schemas.blocks import CustomWebhook, Webhook

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def substitute(value: Any, values: Mapping[str, str]) -> Any:
    """Replace `{{key}}` in every string inside `value` (keys of dicts too)."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {substitute(k, values): substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    return value


def content_type_for(payload: str) -> str:
    """application/json for a payload that parses as JSON, else text. orjson answers (about a tenth of
    json.loads' time, once per delivery); what it refuses but json.loads takes (NaN, Infinity, numbers past
    the double range) json.loads decides."""
    try:
        orjson.loads(payload)
    except ValueError as exc:
        if "NaN" not in payload and "Infinity" not in payload and "infinity" not in str(exc):
            return "text/plain; charset=utf-8"
        try:
            json.loads(payload)
        except ValueError:
            return "text/plain; charset=utf-8"
    return "application/json"


def _has_header(headers: Mapping[str, str], name: str) -> bool:
    return any(key.lower() == name.lower() for key in headers)


class CustomWebhookNotifier(HttpNotifier):
    channel = "custom webhook"


    async def asend(self, block: CustomWebhook, subject: str, body: str, *, delivery_id: str) -> DeliveryResult:
        values = {"subject": subject, "body": body, "name": block.name, **(block.secrets or {})}
        kwargs: dict[str, Any] = {}
        headers = dict(substitute(block.headers or {}, values))
        if block.json_data is not None:
            kwargs["json"] = substitute(block.json_data, values)
        elif block.form_data is not None:
            kwargs["data"] = substitute(block.form_data, values)
        elif block.body is not None:
            content = substitute(block.body, values)
            kwargs["content"] = content.encode("utf-8")
            if not _has_header(headers, "Content-Type"):
                headers["Content-Type"] = content_type_for(content)
        else:
            kwargs["json"] = {"subject": subject, "body": body}
        if block.params:
            kwargs["params"] = substitute(block.params, values)
        if block.cookies:
            kwargs["cookies"] = substitute(block.cookies, values)
        url = substitute(block.url, values)
        return await self.http.arequest(
            block.method,
            url,
            headers=headers,
            delivery_id=delivery_id,
            channel=self.channel,
            redactor=redactor_for(block),
            timeout_seconds=block.timeout_seconds,
            **kwargs,
        )


class CallWebhookNotifier(HttpNotifier):
    """`call-webhook`: the rendered payload is the request body; action headers override the block's."""

    channel = "webhook"


    async def asend(
        self,
        block: Webhook,
        subject: str,
        body: str,
        *,
        delivery_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> DeliveryResult:
        """`body` is the rendered payload; `subject` is unused (call-webhook has none)."""
        url = require(resolve(block, "url", self.resolve_secret), "webhook URL")
        all_headers = {**(block.headers or {}), **(headers or {})}
        if body and not _has_header(all_headers, "Content-Type"):
            all_headers["Content-Type"] = content_type_for(body)
        return await self.http.arequest(
            block.method,
            url,
            headers=all_headers,
            content=body.encode("utf-8"),
            verify=block.verify,
            delivery_id=delivery_id,
            channel=self.channel,
            redactor=redactor_for(block, [url]),
        )
