"""custom-webhook (send-notification) and webhook (call-webhook): templated requests, non-2xx fails."""

import json

from tocsin.notifications.webhook import CallWebhookNotifier, CustomWebhookNotifier
from tocsin.schemas.blocks import validate_block


def test_custom_webhook_substitutes_subject_body_name_and_secrets(sink, http):
    sink.expect_request("/notify/alerts", method="PUT").respond_with_data("", status=204)
    block = validate_block(
        "custom-webhook",
        {
            "name": "alerts",
            "url": sink.url_for("/notify/{{name}}"),
            "method": "PUT",
            "params": {"q": "{{subject}}"},
            "headers": {"Authorization": "Bearer {{api_key}}"},
            "json_data": {"title": "{{subject}}", "text": "{{ body }}", "n": 1, "list": ["{{name}}"]},
            "secrets": {"api_key": "ck-0123456789"},
        },
    )
    result = CustomWebhookNotifier(http=http).send(block, "Failed", "etl broke", delivery_id="d-5")
    assert result.status_code == 204
    [(request, _)] = sink.log
    assert request.args.to_dict() == {"q": "Failed"}
    assert request.headers["Authorization"] == "Bearer ck-0123456789"
    assert request.headers["X-Tocsin-Delivery-Id"] == "d-5"
    assert request.get_json() == {"title": "Failed", "text": "etl broke", "n": 1, "list": ["alerts"]}


def test_custom_webhook_raw_body_and_form_and_default(sink, http):
    sink.expect_request("/x").respond_with_data("ok")
    notifier = CustomWebhookNotifier(http=http)
    url = sink.url_for("/x")
    notifier.send(
        validate_block("custom-webhook", {"url": url, "body": '{"t": "{{subject}}"}'}),
        "S",
        "B",
        delivery_id="d",
    )
    notifier.send(
        validate_block("custom-webhook", {"url": url, "body": "plain {{body}}"}), "S", "B", delivery_id="d"
    )
    notifier.send(
        validate_block("custom-webhook", {"url": url, "form_data": {"m": "{{body}}"}}),
        "S",
        "B",
        delivery_id="d",
    )
    notifier.send(validate_block("custom-webhook", {"url": url}), "S", "B", delivery_id="d")
    (raw_json, _), (raw_text, _), (form, _), (default, _) = sink.log
    assert (raw_json.data, raw_json.headers["Content-Type"]) == (b'{"t": "S"}', "application/json")
    assert (raw_text.data, raw_text.headers["Content-Type"]) == (b"plain B", "text/plain; charset=utf-8")
    assert form.form.to_dict() == {"m": "B"}
    assert default.get_json() == {"subject": "S", "body": "B"}


def test_custom_webhook_faults(sink, http, fault_drill):
    block = validate_block(
        "custom-webhook",
        {
            "url": sink.url_for("/hook"),
            "headers": {"X-Key": "{{k}}"},
            "timeout": 0.3,
            "secrets": {"k": "custom-secret-987"},
        },
    )
    fault_drill(
        "/hook",
        lambda: CustomWebhookNotifier(http=http).send(block, "s", "b", delivery_id="d"),
        secret="custom-secret-987",
    )


def test_call_webhook_sends_the_rendered_payload_with_block_and_action_headers(sink, http):
    sink.expect_request("/in", method="POST").respond_with_data("thanks")
    block = validate_block(
        "webhook",
        {"url": sink.url_for("/in"), "headers": {"Authorization": "Bearer wh-secret-1", "X-Env": "block"}},
    )
    payload = json.dumps({"flow": "etl"}, indent=2)
    result = CallWebhookNotifier(http=http).send(
        block, "", payload, delivery_id="d-8", headers={"X-Env": "action", "X-Run": "r1"}
    )
    assert (result.status_code, result.response_excerpt) == (200, "thanks")
    [(request, _)] = sink.log
    assert request.data == payload.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert (request.headers["Authorization"], request.headers["X-Env"], request.headers["X-Run"]) == (
        "Bearer wh-secret-1",
        "action",
        "r1",
    )
    assert request.headers["X-Tocsin-Delivery-Id"] == "d-8"


def test_call_webhook_method_and_url_secret(sink, http):
    sink.expect_request("/in", method="PATCH").respond_with_data("")
    block = validate_block("webhook", {"url_secret": "hook", "method": "PATCH"})
    CallWebhookNotifier(http=http, resolve_secret={"hook": sink.url_for("/in")}.__getitem__).send(
        block, "", "not json", delivery_id="d"
    )
    request = sink.log[0][0]
    assert (request.data, request.headers["Content-Type"]) == (b"not json", "text/plain; charset=utf-8")


def test_call_webhook_faults(sink, http, fault_drill):
    block = validate_block(
        "webhook", {"url": sink.url_for("/in"), "headers": {"X-Token": "wh-token-0123456789"}}
    )
    fault_drill(
        "/in",
        lambda: CallWebhookNotifier(http=http).send(block, "", "{}", delivery_id="d"),
        secret="wh-token-0123456789",
    )
