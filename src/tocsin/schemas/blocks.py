"""Typed block data: the stored configuration a `send-notification` or `call-webhook` action points at.

A block is `{name, type, data}`; this module owns `data`, one pydantic model per type (semantics §12, seed
000). Each model declares which fields hold secret values (`secret_fields`): the API masks them, the store
encrypts them, and `repr()` never shows them. A secret may also be referenced by name through a
`<field>_secret` field (seed 000's `webhook_url_secret`, `auth_token_secret`), resolved at send time by the
caller's `resolve_secret(name)`.

Every outside service's base URL is a field (`api_base_url`) so tests can aim it at a loopback fake.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tocsin.errors import ValidationFailed

SecretResolver = Callable[[str], str]

# What the API returns in place of a secret value (docs/CONTRACT.md).
SECRET_MARKER: dict[str, bool] = {"secret": True}

NotifyType = Literal["info", "success", "warning", "failure"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _check_url(value: str | None, field: str) -> str | None:
    # The message never repeats the value: URLs of webhooks are credentials.
    if value is not None and not re.match(r"https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL (value not shown, it may be secret)")
    return value


class BlockModel(BaseModel):
    """Base of every block data model. Unknown fields are rejected, so a typo fails at create time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    block_type: ClassVar[str]
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    # field -> the field naming a stored secret for it, where that is not "<field>_secret" (seed 000's names)
    secret_refs: ClassVar[dict[str, str]] = {}

    @classmethod
    def secret_ref_field(cls, field: str) -> str:
        return cls.secret_refs.get(field, f"{field}_secret")

    def secret(self, field: str, resolve_secret: SecretResolver | None) -> str | None:
        """The value of a secret field, inline or through its `*_secret` name and `resolve_secret`."""
        inline = getattr(self, field, None)
        if inline is not None:
            return str(inline)
        ref = self.secret_ref_field(field)
        name = getattr(self, ref, None)
        if name is None:
            return None
        if resolve_secret is None:
            raise ValueError(f"{ref} names secret {name!r} but no secret resolver was given")
        return resolve_secret(name)

    def public_data(self) -> dict[str, Any]:
        """JSON for API reads: secret fields that are set become SECRET_MARKER, unset ones are omitted."""
        data = self.model_dump(mode="json", exclude_none=True)
        for field in self.secret_fields & data.keys():
            data[field] = dict(SECRET_MARKER)
        return data

    def secret_data(self) -> dict[str, Any]:
        """The raw values of the secret fields that are set (for encryption at rest)."""
        dumped = self.model_dump(mode="json", include=set(self.secret_fields), exclude_none=True)
        return dumped

    def secret_values(self) -> list[str]:
        """Every inline secret string (dict fields flattened), for redaction."""
        values: list[str] = []
        for value in self.secret_data().values():
            values.extend(value.values() if isinstance(value, dict) else [value])
        return [str(v) for v in values]


def _one_of(model: BaseModel, *fields: str, required: bool = True) -> None:
    given = [f for f in fields if getattr(model, f) is not None]
    if len(given) > 1:
        raise ValueError(f"{given[1]}: set only one of {', '.join(fields)}")
    if required and not given:
        raise ValueError(f"{fields[0]}: one of {', '.join(fields)} is required")


class SlackWebhook(BlockModel):
    """Slack incoming webhook (hooks.slack.com/services/...)."""

    block_type: ClassVar[str] = "slack-webhook"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"url"})
    secret_refs: ClassVar[dict[str, str]] = {"url": "webhook_url_secret"}

    url: str | None = Field(None, repr=False)
    webhook_url_secret: str | None = None
    notify_type: NotifyType = "info"
    allow_private_urls: bool = True

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _check_url(value, "url")

    @model_validator(mode="after")
    def _rules(self) -> BlockModel:
        _one_of(self, "url", "webhook_url_secret")
        return self


class MsTeamsWebhook(BlockModel):
    """Microsoft Teams through a Power Automate "Workflows" webhook URL (posts an Adaptive Card)."""

    block_type: ClassVar[str] = "ms-teams-webhook"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"url"})
    secret_refs: ClassVar[dict[str, str]] = {"url": "webhook_url_secret"}

    url: str | None = Field(None, repr=False)
    webhook_url_secret: str | None = None
    include_image: bool = True
    wrap: bool = True
    notify_type: NotifyType = "info"
    allow_private_urls: bool = True

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _check_url(value, "url")

    @model_validator(mode="after")
    def _rules(self) -> BlockModel:
        _one_of(self, "url", "webhook_url_secret")
        return self


class Email(BlockModel):
    """SMTP delivery. `security`: starttls (port 587 by default), ssl (465) or none (25)."""

    block_type: ClassVar[str] = "email"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    smtp_host: str = Field(min_length=1)
    smtp_port: int | None = Field(None, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    verify_tls: bool = True
    username: str | None = None
    password: str | None = Field(None, repr=False)
    password_secret: str | None = None
    from_email: str = Field(min_length=3)
    to_emails: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("from_email")
    @classmethod
    def _address(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("must be an email address")
        return value

    @field_validator("to_emails")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if "@" not in address:
                raise ValueError(f"{address!r} is not an email address")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Email:
        _one_of(self, "password", "password_secret", required=False)
        if (self.password or self.password_secret) and not self.username:
            raise ValueError("username: is required when a password is set")
        return self

    @property
    def port(self) -> int:
        return self.smtp_port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class TwilioSms(BlockModel):
    """Twilio Programmable Messaging: one message per number in `to_phone_numbers`."""

    block_type: ClassVar[str] = "twilio-sms"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"auth_token"})

    account_sid: str = Field(pattern=r"^AC[0-9a-zA-Z]{8,}$")
    auth_token: str | None = Field(None, repr=False)
    auth_token_secret: str | None = None
    messaging_service_sid: str | None = None
    from_phone_number: str | None = None
    to_phone_numbers: list[str] = Field(min_length=1)
    api_base_url: str = "https://api.twilio.com"

    @field_validator("api_base_url")
    @classmethod
    def _valid_api_base_url(cls, value: str | None) -> str | None:
        return _check_url(value, "api_base_url")

    @model_validator(mode="after")
    def _rules(self) -> TwilioSms:
        _one_of(self, "auth_token", "auth_token_secret")
        _one_of(self, "messaging_service_sid", "from_phone_number")
        return self


PagerDutyDedup = Literal["firing", "automation", "delivery", "template"]
# what a PagerDuty dedup_key_template may use: the firing's, the automation's and the delivery's ids, the
# rendered subject
DEDUP_PLACEHOLDERS = ("firing_id", "automation_id", "delivery_id", "subject")


class PagerDuty(BlockModel):
    """PagerDuty Events API v2. `routing_key` and `integration_key` are the same thing under two names.

    `dedup` chooses the event's `dedup_key`, i.e. which notifications update one PagerDuty incident:
    "firing" (default): every action of one firing, and its retries; "automation": every firing of the
    automation, until the incident is resolved in PagerDuty; "delivery": each notification (retries of it
    included) is its own incident; "template": `dedup_key_template` with `{{firing_id}}`,
    `{{automation_id}}`, `{{delivery_id}}` and `{{subject}}` substituted, e.g. a constant ("etl-failures")
    (see docs/concepts.md).
    """

    block_type: ClassVar[str] = "pager-duty"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"routing_key", "integration_key", "api_key"})
    secret_refs: ClassVar[dict[str, str]] = {"api_key": "api_token_secret"}

    routing_key: str | None = Field(None, repr=False)
    routing_key_secret: str | None = None
    integration_key: str | None = Field(None, repr=False)
    integration_key_secret: str | None = None
    api_key: str | None = Field(None, repr=False)  # accepted for Prefect compatibility; Events v2 needs none
    api_token_secret: str | None = None  # seed 000's name for the same unused token
    severity: Literal["info", "warning", "error", "critical"] = "error"
    source: str = "Tocsin"
    component: str | None = "Notification"
    group: str | None = None
    class_id: str | None = Field(None, alias="class")
    custom_details: dict[str, Any] | None = None
    clickable_url: str | None = None
    region_name: Literal["us", "eu"] = "us"
    include_image: bool = True
    notify_type: NotifyType = "info"
    api_base_url: str | None = None
    dedup: PagerDutyDedup = "firing"
    dedup_key_template: str | None = Field(None, min_length=1, max_length=1024)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("api_base_url")
    @classmethod
    def _valid_api_base_url(cls, value: str | None) -> str | None:
        return _check_url(value, "api_base_url")

    @field_validator("dedup_key_template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        for key in _PLACEHOLDER.findall(value or ""):
            if key not in DEDUP_PLACEHOLDERS:
                raise ValueError(
                    f"unknown placeholder {{{{{key}}}}}; use {', '.join(DEDUP_PLACEHOLDERS)} or plain text"
                )
        return value

    @model_validator(mode="after")
    def _rules(self) -> PagerDuty:
        _one_of(self, "routing_key", "routing_key_secret", "integration_key", "integration_key_secret")
        if self.dedup == "template" and self.dedup_key_template is None:
            raise ValueError('dedup_key_template: is required when dedup is "template"')
        if self.dedup != "template" and self.dedup_key_template is not None:
            raise ValueError(f'dedup_key_template: is only used when dedup is "template" (it is {self.dedup!r})')
        return self

    @property
    def base_url(self) -> str:
        if self.api_base_url:
            return self.api_base_url
        return (
            "https://events.eu.pagerduty.com" if self.region_name == "eu" else "https://events.pagerduty.com"
        )

    def key(self, resolve_secret: SecretResolver | None) -> str:
        return (
            self.secret("routing_key", resolve_secret) or self.secret("integration_key", resolve_secret) or ""
        )


class CustomWebhook(BlockModel):
    """A free-form HTTP notification. `{{subject}}`, `{{body}}`, `{{name}}` and the keys of `secrets` are
    substituted in url, params, headers, cookies, json_data, form_data and body (Prefect's custom-webhook)."""

    block_type: ClassVar[str] = "custom-webhook"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"secrets"})

    name: str = "tocsin"
    url: str
    method: HttpMethod = "POST"
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    cookies: dict[str, str] | None = None
    json_data: dict[str, Any] | list[Any] | None = None
    form_data: dict[str, str] | None = None
    body: str | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=120, validation_alias="timeout")
    secrets: dict[str, str] | None = Field(None, repr=False)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _rules(self) -> CustomWebhook:
        _one_of(self, "json_data", "form_data", "body", required=False)
        known = {"subject", "body", "name", *(self.secrets or {})}
        for field in ("url", "params", "headers", "cookies", "json_data", "form_data", "body"):
            for key in _PLACEHOLDER.findall(str(getattr(self, field) or "")):
                if key not in known:
                    raise ValueError(
                        f"{field}: unknown placeholder {{{{{key}}}}}; "
                        "use subject, body, name or a key of secrets"
                    )
        return self


class Webhook(BlockModel):
    """The target of `call-webhook`: where the rendered payload goes. The URL and headers may carry tokens."""

    block_type: ClassVar[str] = "webhook"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"url", "headers"})

    method: HttpMethod = "POST"
    url: str | None = Field(None, repr=False)
    url_secret: str | None = None
    headers: dict[str, str] | None = Field(None, repr=False)
    verify: bool = True
    allow_private_urls: bool = True

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _check_url(value, "url")

    @model_validator(mode="after")
    def _rules(self) -> Webhook:
        _one_of(self, "url", "url_secret")
        return self


class Apprise(BlockModel):
    """Any Apprise URL (needs the optional `apprise` package at send time)."""

    block_type: ClassVar[str] = "apprise"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"url"})

    url: str | None = Field(None, repr=False)
    url_secret: str | None = None
    notify_type: NotifyType = "info"

    @model_validator(mode="after")
    def _rules(self) -> Apprise:
        _one_of(self, "url", "url_secret")
        return self


class PrefectApi(BlockModel):
    """A Prefect API that Prefect-object actions (cancel-flow-run, run-deployment, ...) are sent to."""

    block_type: ClassVar[str] = "prefect-api"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"api_key", "auth_string"})

    api_url: str
    api_key: str | None = Field(None, repr=False)
    api_key_secret: str | None = None
    auth_string: str | None = Field(None, repr=False)  # "user:password" for a server behind basic auth
    auth_string_secret: str | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("api_url")
    @classmethod
    def _valid_api_url(cls, value: str | None) -> str | None:
        return _check_url(value, "api_url")

    @model_validator(mode="after")
    def _rules(self) -> PrefectApi:
        _one_of(self, "api_key", "api_key_secret", required=False)
        _one_of(self, "auth_string", "auth_string_secret", required=False)
        return self


BLOCK_TYPES: dict[str, type[BlockModel]] = {
    model.block_type: model
    for model in (
        SlackWebhook,
        MsTeamsWebhook,
        Email,
        TwilioSms,
        PagerDuty,
        CustomWebhook,
        Webhook,
        Apprise,
        PrefectApi,
    )
}
# Prefect's slug for the same PagerDuty block (seed 004 uses it).
BLOCK_TYPES["pager-duty-webhook"] = PagerDuty


def validate_block(block_type: str, data: Any) -> BlockModel:
    """Validate `data` for `block_type`; raise ValidationFailed with `type` or `data.<field>` paths."""
    model = BLOCK_TYPES.get(block_type)
    if model is None:
        raise ValidationFailed(
            [("type", f"unknown block type {block_type!r}; expected one of {', '.join(sorted(BLOCK_TYPES))}")]
        )
    if not isinstance(data, dict):
        raise ValidationFailed([("data", f"must be an object, got {type(data).__name__}")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, "data") from None


def secret_fields(block_type: str) -> frozenset[str]:
    """The fields of `block_type` whose values the API must never return."""
    model = BLOCK_TYPES.get(block_type)
    return model.secret_fields if model else frozenset()
