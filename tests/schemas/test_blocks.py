"""Block data: one model per type, secret fields declared, errors name `data.<field>` and never the value."""

import pytest

from tocsin.errors import ValidationFailed
from tocsin.schemas.blocks import (
    BLOCK_TYPES,
    SECRET_MARKER,
    Email,
    PagerDuty,
    SlackWebhook,
    TwilioSms,
    secret_fields,
    validate_block,
)

SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"


def problems(block_type, data):
    with pytest.raises(ValidationFailed) as info:
        validate_block(block_type, data)
    return info.value.problems


def test_seed_004_slack_block_data_loads():
    block = validate_block("slack-webhook", {"url": SLACK_URL})
    assert isinstance(block, SlackWebhook) and block.url == SLACK_URL


def test_seed_004_pager_duty_webhook_block_data_loads():
    block = validate_block("pager-duty-webhook", {"integration_key": "ik-123456", "api_key": "api-123456"})
    assert isinstance(block, PagerDuty)
    assert block.key(None) == "ik-123456"
    assert block.base_url == "https://events.pagerduty.com"


def test_pager_duty_base_url_follows_region_unless_set():
    assert validate_block("pager-duty", {"routing_key": "rk-1234", "region_name": "eu"}).base_url == (
        "https://events.eu.pagerduty.com"
    )
    block = validate_block("pager-duty", {"routing_key": "rk-1234", "api_base_url": "http://127.0.0.1:9"})
    assert block.base_url == "http://127.0.0.1:9"


def test_secret_can_be_referenced_by_name():
    block = validate_block("slack-webhook", {"webhook_url_secret": "slack-url"})
    assert block.secret("url", {"slack-url": SLACK_URL}.__getitem__) == SLACK_URL


def test_missing_required_field_is_named():
    assert problems("email", {"smtp_host": "mail", "from_email": "a@b.c"}) == [
        ("data.to_emails", "Field required")
    ]
    assert problems(
        "twilio-sms", {"account_sid": "AC12345678", "auth_token": "t0k3n", "from_phone_number": "+1555"}
    ) == [("data.to_phone_numbers", "Field required")]


def test_one_of_rules_name_the_field():
    assert problems("slack-webhook", {}) == [("data.url", "one of url, webhook_url_secret is required")]
    assert problems("slack-webhook", {"url": SLACK_URL, "webhook_url_secret": "x"}) == [
        ("data.webhook_url_secret", "set only one of url, webhook_url_secret")
    ]
    assert problems(
        "twilio-sms", {"account_sid": "AC12345678", "auth_token": "t", "to_phone_numbers": ["+1"]}
    ) == [("data.messaging_service_sid", "one of messaging_service_sid, from_phone_number is required")]


def test_unknown_field_and_unknown_type_are_rejected():
    assert problems("slack-webhook", {"url": SLACK_URL, "channel": "#x"}) == [
        ("data.channel", "Extra inputs are not permitted")
    ]
    assert problems("carrier-pigeon", {})[0][0] == "type"
    assert problems("slack-webhook", "url")[0] == ("data", "must be an object, got str")


def test_errors_never_repeat_a_secret_value():
    secret = "ftp://user:VERYSECRET@host"
    for problem in problems("slack-webhook", {"url": secret}):
        assert "VERYSECRET" not in str(problem)
    with pytest.raises(ValidationFailed) as info:
        validate_block("webhook", {"url": secret})
    assert "VERYSECRET" not in str(info.value)


def test_public_data_masks_secrets_and_repr_hides_them():
    block = validate_block(
        "email",
        {
            "smtp_host": "mail",
            "username": "u",
            "password": "pw-secret",
            "from_email": "a@b.c",
            "to_emails": ["d@e.f"],
        },
    )
    assert block.public_data()["password"] == SECRET_MARKER
    assert block.secret_data() == {"password": "pw-secret"}
    assert "pw-secret" not in repr(block)
    assert block.secret_values() == ["pw-secret"]


def test_dict_secrets_are_flattened_for_redaction():
    block = validate_block(
        "webhook", {"url": "https://example.com/hook", "headers": {"Authorization": "Bearer abcd"}}
    )
    assert sorted(block.secret_values()) == ["Bearer abcd", "https://example.com/hook"]
    assert block.public_data()["headers"] == SECRET_MARKER


def test_secret_fields_are_declared_per_type():
    assert secret_fields("twilio-sms") == {"auth_token"}
    assert secret_fields("pager-duty") == {"routing_key", "integration_key", "api_key"}
    assert secret_fields("custom-webhook") == {"secrets"}
    assert secret_fields("prefect-api") == {"api_key", "auth_string"}
    for model in BLOCK_TYPES.values():
        assert model.secret_fields <= set(model.model_fields)


def test_email_port_defaults_by_security():
    base = {"smtp_host": "mail", "from_email": "a@b.c", "to_emails": ["d@e.f"]}
    assert validate_block("email", base).port == 587
    assert validate_block("email", {**base, "security": "ssl"}).port == 465
    assert validate_block("email", {**base, "security": "none"}).port == 25
    assert validate_block("email", {**base, "smtp_port": 2525}).port == 2525
    assert problems("email", {**base, "password": "x"}) == [
        ("data.username", "is required when a password is set")
    ]
    assert isinstance(validate_block("email", base), Email)


def test_twilio_base_url_is_configurable():
    block = validate_block(
        "twilio-sms",
        {
            "account_sid": "AC12345678",
            "auth_token_secret": "tw",
            "messaging_service_sid": "MG1",
            "to_phone_numbers": ["+1"],
            "api_base_url": "http://127.0.0.1:1",
        },
    )
    assert isinstance(block, TwilioSms) and block.api_base_url == "http://127.0.0.1:1"
    assert block.secret("auth_token", {"tw": "tok"}.__getitem__) == "tok"


def test_custom_webhook_placeholders_must_be_known():
    ok = validate_block(
        "custom-webhook",
        {
            "url": "https://x.example/{{name}}",
            "json_data": {"t": "{{subject}}", "k": "{{ api_key }}"},
            "secrets": {"api_key": "s3cr3t-key"},
        },
    )
    assert ok.method == "POST"
    assert problems("custom-webhook", {"url": "https://x.example", "headers": {"A": "{{token}}"}}) == [
        ("data.headers", "unknown placeholder {{token}}; use subject, body, name or a key of secrets")
    ]
    assert problems("custom-webhook", {"url": "https://x", "json_data": {}, "body": "x"})[0][0] == "data.body"


def test_prefect_api_block():
    block = validate_block("prefect-api", {"api_url": "http://127.0.0.1:4200/api", "api_key_secret": "pf"})
    assert block.secret("api_key", lambda name: "pnu_" + name) == "pnu_pf"
