"""The shared HTTP helper and registry: delivery id header, Retry-After, and the retry decision table."""

from datetime import datetime, timezone

import pytest

from tocsin.errors import DeliveryError, NotFound
from tocsin.notifications import NOTIFICATION_BLOCK_TYPES, HttpSender, notifier_for, parse_retry_after
from tocsin.notifications.base import redactor_for, resolve
from tocsin.notifications.slack import SlackNotifier
from tocsin.schemas.blocks import validate_block
from tocsin.secrets import Redactor

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("1.5", NOW) == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("-3", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_every_request_carries_the_delivery_id(sink, http):
    sink.expect_request("/x", headers={"X-Tocsin-Delivery-Id": "d-42"}).respond_with_data("fine")
    result = http.request("POST", sink.url_for("/x"), delivery_id="d-42", channel="test", redactor=Redactor())
    assert (result.status_code, result.response_excerpt) == (200, "fine")


def test_redirects_are_not_followed_and_fail_permanently(sink, http):
    sink.expect_request("/moved").respond_with_data("", status=302, headers={"Location": "/elsewhere"})
    with pytest.raises(DeliveryError) as info:
        http.request("POST", sink.url_for("/moved"), delivery_id="d", channel="test", redactor=Redactor())
    assert info.value.permanent and info.value.status_code == 302


def test_connection_refused_is_retryable(http):
    with pytest.raises(DeliveryError) as info:
        http.request(
            "POST", "http://127.0.0.1:9/nothing", delivery_id="d", channel="test", redactor=Redactor()
        )
    assert not info.value.permanent and info.value.status_code is None


def test_unsupported_url_is_permanent(http):
    with pytest.raises(DeliveryError) as info:
        http.request(
            "POST", "gopher://example.invalid/x", delivery_id="d", channel="test", redactor=Redactor()
        )
    assert info.value.permanent


def test_response_excerpt_is_redacted_and_capped(sink, http):
    sink.expect_request("/x").respond_with_data("token=tok-123456 " + "y" * 5000)
    result = http.request(
        "POST", sink.url_for("/x"), delivery_id="d", channel="t", redactor=Redactor(["tok-123456"])
    )
    assert result.response_excerpt.startswith("token=[REDACTED] ") and len(result.response_excerpt) <= 1000


def test_secret_urls_are_redacted_piecewise():
    redactor = redactor_for(None, ["https://hooks.example/services/T000/B000/abcdefghijklmnopqrstuvwx?k=1"])
    text = redactor.redact(
        "no_service: /services/T000/B000/abcdefghijklmnopqrstuvwx and abcdefghijklmnopqrstuvwx"
    )
    assert "abcdefghijklmnopqrstuvwx" not in text


@pytest.mark.parametrize("quoted", [
    "no_service: user:pa%24%24word-long-enough-16@hooks.example",
    "path was /v1/hooks/tok%2Fen-abcdefghijklmnop",
    "decoded tok/en-abcdefghijklmnop and pa$$word-long-enough-16",
    "query sig=q%2Bvalue-abcdefghijkl and q+value-abcdefghijkl",
])
def test_secret_url_pieces_are_redacted_raw_and_decoded(quoted):
    url = "https://user:pa%24%24word-long-enough-16@hooks.example/v1/hooks/tok%2Fen-abcdefghijklmnop?sig=q%2Bvalue-abcdefghijkl"
    text = redactor_for(None, [url]).redact(quoted)
    for piece in ("pa%24%24word-long-enough-16", "pa$$word-long-enough-16", "tok%2Fen-abcdefghijklmnop",
                  "tok/en-abcdefghijklmnop", "q%2Bvalue-abcdefghijkl", "q+value-abcdefghijkl"):
        assert piece not in text, text


def test_unresolvable_named_secret_is_permanent_and_names_only_the_secret():
    block = validate_block("slack-webhook", {"webhook_url_secret": "slack-url"})

    def missing(name):
        raise NotFound(f"no secret {name}")

    with pytest.raises(DeliveryError) as info:
        resolve(block, "url", missing)
    assert info.value.permanent and "'slack-url'" in str(info.value)

    def flaky(name):
        raise RuntimeError("database is down, value was https://leak")

    with pytest.raises(DeliveryError) as info:
        resolve(block, "url", flaky)
    assert not info.value.permanent and "leak" not in str(info.value)


def test_registry_knows_every_notification_block_type():
    assert NOTIFICATION_BLOCK_TYPES == {
        "slack-webhook",
        "ms-teams-webhook",
        "email",
        "twilio-sms",
        "pager-duty",
        "pager-duty-webhook",
        "custom-webhook",
        "apprise",
    }
    http = HttpSender()
    try:
        assert isinstance(notifier_for("slack-webhook", http=http), SlackNotifier)
        for block_type in [*NOTIFICATION_BLOCK_TYPES, "webhook"]:
            assert hasattr(notifier_for(block_type, http=http), "send")
    finally:
        http.close()
    with pytest.raises(DeliveryError) as info:
        notifier_for("prefect-api")
    assert info.value.permanent
