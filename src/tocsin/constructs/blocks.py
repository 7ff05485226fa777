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
PAGERDUTY_DEDUP = ("firing", "automation", "delivery", "template")
SMTP_SECURITY = ("starttls", "ssl", "none")
NOTIFY_TYPES = ("info", "success", "warning", "failure")


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
    """A Slack incoming webhook. Give `url` or `webhook_url_secret` (the name of a `tocsin_secret`).

    :param notify_type: "info", "success", "warning" or "failure"; default - the engine's ("info").
    """

    block_type = "slack-webhook"
    secret_fields = ("url",)

    def __init__(self, *, url: str | None = None, webhook_url_secret: str | None = None,
                 notify_type: str | None = None) -> None:
        _one_of("SlackWebhook", "url", url, "webhook_url_secret", webhook_url_secret)
        _url("SlackWebhook", "url", url)
        _str("SlackWebhook", "webhook_url_secret", webhook_url_secret)
        _choice("SlackWebhook", "notify_type", notify_type, NOTIFY_TYPES)
        super().__init__(url=url, webhook_url_secret=webhook_url_secret, notify_type=notify_type)


class MsTeamsWebhook(BlockConfig):
    """A Microsoft Teams *Workflows* (Power Automate) webhook URL; the whole URL is a secret."""

    block_type = "ms-teams-webhook"
    secret_fields = ("url",)

    def __init__(self, *, url: str | None = None, webhook_url_secret: str | None = None,
                 notify_type: str | None = None) -> None:
        _one_of("MsTeamsWebhook", "url", url, "webhook_url_secret", webhook_url_secret)
        _url("MsTeamsWebhook", "url", url)
        _str("MsTeamsWebhook", "webhook_url_secret", webhook_url_secret)
        _choice("MsTeamsWebhook", "notify_type", notify_type, NOTIFY_TYPES)
        super().__init__(url=url, webhook_url_secret=webhook_url_secret, notify_type=notify_type)


class Email(BlockConfig):
    """SMTP email.

    :param security: "starttls" (default), "ssl" or "none".
    :param smtp_port: default - by security: 587, 465 or 25.
    :param password_secret: name of a `tocsin_secret` holding the SMTP password (preferred over `password`).
    """

    block_type = "email"
    secret_fields = ("password",)

    def __init__(self, *, smtp_host: str, from_email: str, to_emails: Sequence[str], smtp_port: int | None = None,
                 security: str = "starttls", username: str | None = None, password: str | None = None,
                 password_secret: str | None = None) -> None:
        emails = str_list(to_emails, "Email.to_emails")
        if not emails:
            raise ConstructError("Email.to_emails", "needs at least one address", received=to_emails)
        _str("Email", "smtp_host", smtp_host, required=True)
        _str("Email", "from_email", from_email, required=True)
        _choice("Email", "security", security, SMTP_SECURITY)
        if smtp_port is not None and (isinstance(smtp_port, bool) or not isinstance(smtp_port, int)
                                      or not 0 < smtp_port < 65536):
            raise ConstructError("Email.smtp_port", "must be a port number 1-65535", received=smtp_port)
        _one_of("Email", "password", password, "password_secret", password_secret, required=False)
        if (password is not None or password_secret is not None) and username is None:
            raise ConstructError("Email.username", "is required when a password is set", received=None)
        super().__init__(smtp_host=smtp_host, smtp_port=smtp_port, security=security, username=username,
                         password=password, password_secret=password_secret, from_email=from_email,
                         to_emails=emails)


class TwilioSms(BlockConfig):
    """Twilio SMS: `messaging_service_sid` or `from_phone_number`; `auth_token` or `auth_token_secret`.

    :param api_base_url: default - Twilio's API; point it at a local fake in tests.
    """

    block_type = "twilio-sms"
    secret_fields = ("auth_token",)

    def __init__(self, *, account_sid: str, to_phone_numbers: Sequence[str], auth_token: str | None = None,
                 auth_token_secret: str | None = None, messaging_service_sid: str | None = None,
                 from_phone_number: str | None = None, api_base_url: str | None = None) -> None:
        _str("TwilioSms", "account_sid", account_sid, required=True)
        numbers = str_list(to_phone_numbers, "TwilioSms.to_phone_numbers")
        if not numbers:
            raise ConstructError("TwilioSms.to_phone_numbers", "needs at least one number", received=to_phone_numbers)
        _one_of("TwilioSms", "auth_token", auth_token, "auth_token_secret", auth_token_secret)
        _one_of("TwilioSms", "messaging_service_sid", messaging_service_sid, "from_phone_number", from_phone_number)
        _url("TwilioSms", "api_base_url", api_base_url)
        super().__init__(account_sid=account_sid, auth_token=auth_token, auth_token_secret=auth_token_secret,
                         messaging_service_sid=messaging_service_sid, from_phone_number=from_phone_number,
                         to_phone_numbers=numbers, api_base_url=api_base_url)


class PagerDuty(BlockConfig):
    """PagerDuty Events API v2. Give one of `routing_key`, `routing_key_secret`, `integration_key` or
    `integration_key_secret` (integration key is Prefect's name for the routing key).

    :param severity: "info", "warning", "error" or "critical"; default - the engine's ("error").
    :param api_base_url: default - PagerDuty's events endpoint; point it at a local fake in tests and demos.
    :param dedup: which notifications update one PagerDuty incident (the event's `dedup_key`): "firing" (the
        default: the actions of one firing), "automation" (every firing of the automation), "delivery" (each
        notification its own incident) or "template" (`dedup_key_template`).
    :param dedup_key_template: with dedup="template": the key, with `{{firing_id}}`, `{{automation_id}}`,
        `{{delivery_id}}` and `{{subject}}` substituted; e.g. a constant ("etl-failures") shared by several
        automations, or "{{subject}}" with a subject that names the flow.
    """

    block_type = "pager-duty"
    secret_fields = ("routing_key", "integration_key")

    def __init__(self, *, routing_key: str | None = None, routing_key_secret: str | None = None,
                 integration_key: str | None = None, integration_key_secret: str | None = None,
                 severity: str | None = None, source: str | None = None, api_base_url: str | None = None,
                 dedup: str | None = None, dedup_key_template: str | None = None) -> None:
        given = [n for n, v in (("routing_key", routing_key), ("routing_key_secret", routing_key_secret),
                                ("integration_key", integration_key),
                                ("integration_key_secret", integration_key_secret)) if v is not None]
        if len(given) != 1:
            raise ConstructError("PagerDuty", "give exactly one of routing_key, routing_key_secret, integration_key "
                                 "or integration_key_secret", received=given,
                                 hint="prefer routing_key_secret=<TfSecret>.name")
        _choice("PagerDuty", "severity", severity, PAGERDUTY_SEVERITIES)
        _url("PagerDuty", "api_base_url", api_base_url)
        _choice("PagerDuty", "dedup", dedup, PAGERDUTY_DEDUP)
        _str("PagerDuty", "dedup_key_template", dedup_key_template)
        if (dedup == "template") != (dedup_key_template is not None):
            raise ConstructError("PagerDuty", 'give dedup_key_template exactly when dedup="template"',
                                 received={"dedup": dedup, "dedup_key_template": dedup_key_template},
                                 hint='PagerDuty(..., dedup="template", dedup_key_template="{{subject}}")')
        super().__init__(routing_key=routing_key, routing_key_secret=routing_key_secret,
                         integration_key=integration_key, integration_key_secret=integration_key_secret,
                         severity=severity, source=source, api_base_url=api_base_url, dedup=dedup,
                         dedup_key_template=dedup_key_template)


def _headers(cls: str, headers: Any, field: str = "headers") -> dict[str, str] | None:
    if headers is None:
        return None
    if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in headers.items()):
        raise ConstructError(f"{cls}.{field}", "must be a mapping of name -> string value", received=headers)
    return dict(headers)


class CustomWebhook(BlockConfig):
    """A notification sent as an HTTP request of your shape. `{{subject}}`, `{{body}}`, `{{name}}` and the keys
    of `secrets` are substituted in url, params, headers, cookies, json_data, form_data and body.

    :param method: default "POST".
    :param secrets: values for placeholders (secret: prefer values from sensitive TerraformVariables).
    """

    block_type = "custom-webhook"
    secret_fields = ("secrets",)

    def __init__(self, *, url: str, method: str = "POST", headers: Mapping[str, str] | None = None,
                 params: Mapping[str, str] | None = None, cookies: Mapping[str, str] | None = None,
                 json_data: Any = None, form_data: Mapping[str, str] | None = None, body: str | None = None,
                 secrets: Mapping[str, str] | None = None, timeout_seconds: float | None = None) -> None:
        _str("CustomWebhook", "url", url, required=True)
        _url("CustomWebhook", "url", url.split("{{", 1)[0] if "{{" in url else url)
        _choice("CustomWebhook", "method", method, HTTP_METHODS)
        if sum(x is not None for x in (json_data, form_data, body)) > 1:
            raise ConstructError("CustomWebhook", "give at most one of json_data, form_data or body", show_value=False)
        super().__init__(url=url, method=method, headers=_headers("CustomWebhook", headers),
                         params=_headers("CustomWebhook", params, "params"),
                         cookies=_headers("CustomWebhook", cookies, "cookies"), json_data=json_data,
                         form_data=_headers("CustomWebhook", form_data, "form_data"), body=body,
                         secrets=_headers("CustomWebhook", secrets, "secrets"), timeout_seconds=timeout_seconds)


class Webhook(BlockConfig):
    """An endpoint for the `call-webhook` action (`CallWebhook`), which supplies the payload.

    :param method: default "POST".
    :param headers: sent with each call (a secret field: may carry tokens).
    """

    block_type = "webhook"
    secret_fields = ("url", "headers")

    def __init__(self, *, url: str | None = None, url_secret: str | None = None, method: str = "POST",
                 headers: Mapping[str, str] | None = None) -> None:
        _one_of("Webhook", "url", url, "url_secret", url_secret)
        _url("Webhook", "url", url)
        _choice("Webhook", "method", method, HTTP_METHODS)
        super().__init__(method=method, url=url, url_secret=url_secret, headers=_headers("Webhook", headers))


class Apprise(BlockConfig):
    """Any Apprise URL (for the services Tocsin has no dedicated block for)."""

    block_type = "apprise"
    secret_fields = ("url",)

    def __init__(self, *, url: str | None = None, url_secret: str | None = None) -> None:
        _one_of("Apprise", "url", url, "url_secret", url_secret)
        super().__init__(url=url, url_secret=url_secret)


__all__ = ["Apprise", "BlockConfig", "CustomWebhook", "Email", "MsTeamsWebhook", "PagerDuty", "SlackWebhook",
           "TwilioSms", "Webhook"]
