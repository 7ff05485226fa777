"""Slack: `{"text": ...}` to the webhook URL, resolved inline or by secret name."""

from tocsin.notifications.slack import SlackNotifier
from tocsin.schemas.blocks import validate_block

TOKEN = "abcdefghijklmnopqrstuvwx"


def test_posts_subject_and_body_as_text(sink, http):
    url = sink.url_for(f"/services/T000/B000/{TOKEN}")
    sink.expect_request(f"/services/T000/B000/{TOKEN}", method="POST").respond_with_data("ok")
    block = validate_block("slack-webhook", {"url": url})
    result = SlackNotifier(http=http).send(block, "Pipeline failed", "*Flow*: etl", delivery_id="d-1")
    assert (result.status_code, result.response_excerpt) == (200, "ok")
    [(request, _)] = sink.log
    assert request.get_json() == {"text": "*Pipeline failed*\n*Flow*: etl"}
    assert request.headers["X-Tocsin-Delivery-Id"] == "d-1"
    assert request.headers["Content-Type"] == "application/json"


def test_webhook_url_secret_is_resolved_by_name(sink, http):
    sink.expect_request("/hook").respond_with_data("ok")
    block = validate_block("slack-webhook", {"webhook_url_secret": "slack-url"})
    secrets = {"slack-url": sink.url_for("/hook")}
    SlackNotifier(http=http, resolve_secret=secrets.__getitem__).send(block, "", "body only", delivery_id="d")
    assert sink.log[0][0].get_json() == {"text": "body only"}


def test_faults(sink, http, fault_drill):
    block = validate_block("slack-webhook", {"url": sink.url_for(f"/services/T/B/{TOKEN}")})
    fault_drill(
        f"/services/T/B/{TOKEN}",
        lambda: SlackNotifier(http=http).send(block, "s", "b", delivery_id="d"),
        secret=TOKEN,
    )
