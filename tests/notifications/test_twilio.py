"""Twilio: one form POST per number to /2010-04-01/Accounts/{sid}/Messages.json with basic auth."""

import base64

import pytest

from tocsin.errors import DeliveryError
from tocsin.notifications.twilio import TwilioNotifier
from tocsin.schemas.blocks import validate_block

SID = "AC0123456789abcdef"
TOKEN = "tw-auth-token-0123456789"
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


def block_for(sink, **data):
    return validate_block(
        "twilio-sms",
        {
            "account_sid": SID,
            "auth_token_secret": "twilio",
            "to_phone_numbers": ["+15550001", "+15550002"],
            "api_base_url": sink.url_for("/").rstrip("/"),
            **data,
        },
    )


def notifier(http):
    return TwilioNotifier(http=http, resolve_secret={"twilio": TOKEN}.__getitem__)


def test_sends_one_message_per_number(sink, http):
    sink.expect_request(PATH, method="POST").respond_with_json({"account_sid": SID, "sid": "SM1"}, status=201)
    result = notifier(http).send(
        block_for(sink, from_phone_number="+15559999"), "Failed", "etl", delivery_id="d-3"
    )
    assert result.status_code == 201 and result.response_excerpt == "message sids: SM1,SM1"
    assert [r.form.to_dict() for r, _ in sink.log] == [
        {"To": "+15550001", "From": "+15559999", "Body": "Failed\netl"},
        {"To": "+15550002", "From": "+15559999", "Body": "Failed\netl"},
    ]
    expected_auth = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    for request, _ in sink.log:
        assert request.headers["Authorization"] == expected_auth
        assert request.headers["X-Tocsin-Delivery-Id"] == "d-3"


def test_messaging_service_is_used_when_given(sink, http):
    sink.expect_request(PATH).respond_with_json({"sid": "SM2"}, status=201)
    notifier(http).send(
        block_for(sink, messaging_service_sid="MG123", to_phone_numbers=["+1"]), "", "hi", delivery_id="d"
    )
    assert sink.log[0][0].form.to_dict() == {"To": "+1", "MessagingServiceSid": "MG123", "Body": "hi"}


def test_partial_failure_says_how_many_were_sent(sink, http):
    sink.expect_ordered_request(PATH).respond_with_json({"sid": "SM1"}, status=201)
    sink.expect_ordered_request(PATH).respond_with_data("down", status=503)
    with pytest.raises(DeliveryError, match=r"after sending to 1 of 2 numbers") as info:
        notifier(http).send(block_for(sink, from_phone_number="+15559999"), "s", "b", delivery_id="d")
    assert not info.value.permanent


def test_faults(sink, http, fault_drill):
    block = block_for(sink, from_phone_number="+15559999")
    fault_drill(PATH, lambda: notifier(http).send(block, "s", "b", delivery_id="d"), secret=TOKEN)


def test_a_retry_skips_the_numbers_an_earlier_attempt_reached(sink, http):
    sink.expect_ordered_request(PATH).respond_with_json({"sid": "SM1"}, status=201)
    sink.expect_ordered_request(PATH).respond_with_data("down", status=503)
    block = block_for(sink, from_phone_number="+15559999", to_phone_numbers=["+1", "+2", "+3"])
    with pytest.raises(DeliveryError) as info:
        notifier(http).send(block, "s", "b", delivery_id="d")
    assert info.value.progress == {"reached": ["+1"]}
    sink.clear_log()
    sink.clear()
    sink.expect_request(PATH).respond_with_json({"sid": "SM2"}, status=201)
    result = notifier(http).send(block, "s", "b", delivery_id="d", progress=info.value.progress)
    assert [r.form["To"] for r, _ in sink.log] == ["+2", "+3"]
    assert result.status_code == 201
