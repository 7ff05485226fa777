"""Typed notification channel configs for `TfBlock(block=...)`: what a `tocsin_block` sends to.

Secret fields come in pairs: give either the value (best from a `TerraformVariable(sensitive=True)`, never from
`os.environ` at synth) or the *name* of a `tocsin_secret` (``webhook_url_secret=secret.name``), which keeps the
value out of the block entirely.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

from ._engine import check_block
from ._util import ConstructError, is_token, str_list

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PAGERDUTY_SEVERITIES = ("info", "warning", "error", "critical")
SMTP_TYPES = ("STARTTLS", "SSL", "INSECURE")


def _one_of(cls: str, a: str, va: Any, b: str, vb: Any, *, required: bool = True) -> None:
    if va is not None and vb is not None:
        raise ConstructError(f"{cls}", f"give either {a} or {b}, not both", show_value=False,
                             hint=f"prefer {b}=<TfSecret>.name to keep the value out of the block")
    if required and va is None and vb is None:
        raise ConstructError(f"{cls}", f"one of {a} or {b} is required", show_value=False,
                             hint=f"for example {b}=<TfSecret>.name, or {a}=<TerraformVariable>.string_value")


def _url(cls: str, field: str, value: Any) -> None:
    if value is None or is_token(value) or "${TfToken[" in str(value):
        return
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        shown = value if not isinstance(value, str) else (value[:12] + "..." if len(value) > 12 else value)
        raise ConstructError(f"{cls}.{field}", "must be an http:// or https:// URL", received=shown,
                             hint="pass the full URL, or a TerraformVariable token")


def _choice(cls: str, field: str, value: Any, choices: Sequence[str]) -> None:
    if value is not None and value not in choices:
        raise ConstructError(f"{cls}.{field}", f"must be one of {', '.join(choices)}", received=value)


def _str(cls: str, field: str, value: Any, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise ConstructError(f"{cls}.{field}", "is required", received=value)
        return
    if not isinstance(value, str):
        raise ConstructError(f"{cls}.{field}", "must be a string", received=value)


class BlockConfig:
    """Base of the typed block configs: `block_type` is the engine's type slug, `to_data()` its data."""

    block_type: ClassVar[str] = ""
    #: fields whose values are secrets (never echoed in errors)
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **fields: Any) -> None:
        self._fields = {k: v for k, v in fields.items() if v is not None}
        check_block(type(self).__name__, self.block_type, self.to_data(), show_value=not self.has_secret_value)

    @property
    def has_secret_value(self) -> bool:
        """True when a secret value (not a secret name) is held inline: `TfBlock` then marks `data` sensitive."""
        return any(f in self._fields for f in self.secret_fields)

    def to_data(self) -> dict[str, Any]:
        return dict(self._fields)

    def __repr__(self) -> str:
        shown = {k: ("<secret>" if k in self.secret_fields else v) for k, v in self._fields.items()}
        return f"{type(self).__name__}({shown!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._fields == other._fields  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class SlackWebhook(BlockConfig):
    """A Slack incoming webhook. Give `url` or `webhook_url_secret` (the name of a `tocsin_secret`)."""

    block_type = "slack-webhook"
    secret_fields = ("url",)

    def __init__(self, *, url: str | None = None, webhook_url_secret: str | None = None) -> None:
        _one_of("SlackWebhook", "url", url, "webhook_url_secret", webhook_url_secret)
        _url("SlackWebhook", "url", url)
        _str("SlackWebhook", "webhook_url_secret", webhook_url_secret)
        super().__init__(url=url, webhook_url_secret=webhook_url_secret)


class MsTeamsWebhook(BlockConfig):
    """A Microsoft Teams *Workflows* webhook URL (the whole URL is a secret)."""

    block_type = "ms-teams-webhook"
    secret_fields = ("url",)

    def __init__(self, *, url: str | None = None, webhook_url_secret: str | None = None) -> None:
        _one_of("MsTeamsWebhook", "url", url, "webhook_url_secret", webhook_url_secret)
        _url("MsTeamsWebhook", "url", url)
        _str("MsTeamsWebhook", "webhook_url_secret", webhook_url_secret)
        super().__init__(url=url, webhook_url_secret=webhook_url_secret)


class Email(BlockConfig):
    """SMTP email. `smtp_type`: "STARTTLS" (default), "SSL" or "INSECURE"; default port - 587."""

    block_type = "email"
    secret_fields = ("password",)

    def __init__(self, *, to_emails: Sequence[str], smtp_server: str, from_email: str,
                 smtp_port: int = 587, smtp_type: str = "STARTTLS", username: str | None = None,
                 password: str | None = None, password_secret: str | None = None) -> None:
        emails = str_list(to_emails, "Email.to_emails")
        if not emails:
            raise ConstructError("Email.to_emails", "needs at least one address", received=to_emails)
        _str("Email", "smtp_server", smtp_server, required=True)
        _str("Email", "from_email", from_email, required=True)
        _choice("Email", "smtp_type", smtp_type, SMTP_TYPES)
        if isinstance(smtp_port, bool) or not isinstance(smtp_port, int) or not 0 < smtp_port < 65536:
            raise ConstructError("Email.smtp_port", "must be a port number 1-65535", received=smtp_port)
        _one_of("Email", "password", password, "password_secret", password_secret, required=False)
        super().__init__(smtp_server=smtp_server, smtp_port=smtp_port, smtp_type=smtp_type, username=username,
                         password=password, password_secret=password_secret, from_email=from_email,
                         to_emails=emails)


class TwilioSms(BlockConfig):
    """Twilio SMS: `messaging_service_sid` or `from_phone_number`; `auth_token` or `auth_token_secret`."""

    block_type = "twilio-sms"
    secret_fields = ("auth_token",)

    def __init__(self, *, account_sid: str, to_phone_numbers: Sequence[str], auth_token: str | None = None,
                 auth_token_secret: str | None = None, messaging_service_sid: str | None = None,
                 from_phone_number: str | None = None) -> None:
        _str("TwilioSms", "account_sid", account_sid, required=True)
        numbers = str_list(to_phone_numbers, "TwilioSms.to_phone_numbers")
        if not numbers:
            raise ConstructError("TwilioSms.to_phone_numbers", "needs at least one number", received=to_phone_numbers)
        _one_of("TwilioSms", "auth_token", auth_token, "auth_token_secret", auth_token_secret)
        _one_of("TwilioSms", "messaging_service_sid", messaging_service_sid, "from_phone_number", from_phone_number)
        super().__init__(account_sid=account_sid, auth_token=auth_token, auth_token_secret=auth_token_secret,
                         messaging_service_sid=messaging_service_sid, from_phone_number=from_phone_number,
                         to_phone_numbers=numbers)


class PagerDuty(BlockConfig):
    """PagerDuty Events API v2. `integration_key` is the routing key; `url` overrides the events endpoint
    (default - PagerDuty's); `severity` default "critical"."""

    block_type = "pager-duty"
    secret_fields = ("integration_key",)

    def __init__(self, *, integration_key: str | None = None, integration_key_secret: str | None = None,
                 severity: str = "critical", url: str | None = None) -> None:
        _one_of("PagerDuty", "integration_key", integration_key, "integration_key_secret", integration_key_secret)
        _choice("PagerDuty", "severity", severity, PAGERDUTY_SEVERITIES)
        _url("PagerDuty", "url", url)
        super().__init__(integration_key=integration_key, integration_key_secret=integration_key_secret,
                         severity=severity, url=url)


def _headers(cls: str, headers: Any) -> dict[str, str] | None:
    if headers is None:
        return None
    if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in headers.items()):
        raise ConstructError(f"{cls}.headers", "must be a mapping of header name -> string value",
                             received=headers)
    return dict(headers)


class CustomWebhook(BlockConfig):
    """A notification sent as an HTTP request of your shape; `json_data`/`form_data` values are templates."""

    block_type = "custom-webhook"
    secret_fields = ("url",)

    def __init__(self, *, url: str | None = None, url_secret: str | None = None, method: str = "POST",
                 headers: Mapping[str, str] | None = None, json_data: Any = None,
                 form_data: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
                 timeout_seconds: float | None = None) -> None:
        _one_of("CustomWebhook", "url", url, "url_secret", url_secret)
        _url("CustomWebhook", "url", url)
        _choice("CustomWebhook", "method", method, HTTP_METHODS)
        if json_data is not None and form_data is not None:
            raise ConstructError("CustomWebhook", "give json_data or form_data, not both", received=None,
                                 show_value=False)
        super().__init__(url=url, url_secret=url_secret, method=method, headers=_headers("CustomWebhook", headers),
                         json_data=json_data, form_data=None if form_data is None else dict(form_data),
                         params=None if params is None else dict(params), timeout=timeout_seconds)


class Webhook(BlockConfig):
    """An endpoint for the `call-webhook` action (`CallWebhook`), which supplies the payload."""

    block_type = "webhook"
    secret_fields = ("url",)

    def __init__(self, *, url: str | None = None, url_secret: str | None = None, method: str = "POST",
                 headers: Mapping[str, str] | None = None) -> None:
        _one_of("Webhook", "url", url, "url_secret", url_secret)
        _url("Webhook", "url", url)
        _choice("Webhook", "method", method, HTTP_METHODS)
        super().__init__(url=url, url_secret=url_secret, method=method, headers=_headers("Webhook", headers))


class Apprise(BlockConfig):
    """Any Apprise URL (for the services Tocsin has no dedicated block for)."""

    block_type = "apprise"
    secret_fields = ("url",)

    def __init__(self, *, url: str | None = None, url_secret: str | None = None) -> None:
        _one_of("Apprise", "url", url, "url_secret", url_secret)
        super().__init__(url=url, url_secret=url_secret)


__all__ = ["Apprise", "BlockConfig", "CustomWebhook", "Email", "MsTeamsWebhook", "PagerDuty", "SlackWebhook",
           "TwilioSms", "Webhook"]
