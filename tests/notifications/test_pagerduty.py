"""PagerDuty Events API v2: /v2/enqueue, dedup_key = delivery id (or the firing id), key never in errors."""

from tocsin.notifications.pagerduty import PagerDutyNotifier
from tocsin.schemas.actions import DEFAULT_SUBJECT
from tocsin.schemas.blocks import validate_block

KEY = "R0UTINGKEY0123456789abcdef012345"


def block_for(sink, **data):
    return validate_block("pager-duty", {"routing_key": KEY, "api_base_url": sink.url_for("/"), **data})


def test_triggers_an_event_with_the_delivery_id_as_dedup_key(sink, http):
    sink.expect_request("/v2/enqueue", method="POST").respond_with_json(
        {"status": "success", "message": "Event processed", "dedup_key": "d-9"}, status=202
    )
    block = block_for(
        sink,
        severity="critical",
        group="data",
        **{"class": "pipeline"},
        custom_details={"team": "data"},
        clickable_url="https://ui.example/run/1",
    )
    result = PagerDutyNotifier(http=http).send(
        block, "CRITICAL: etl failed 3 times", "State: boom", delivery_id="d-9"
    )
    assert result.status_code == 202 and '"dedup_key":"d-9"' in result.response_excerpt.replace(" ", "")
    [(request, _)] = sink.log
    assert request.headers["X-Tocsin-Delivery-Id"] == "d-9"
    assert request.get_json() == {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": "d-9",
        "payload": {
            "summary": "CRITICAL: etl failed 3 times",
            "source": "Tocsin",
            "severity": "critical",
            "component": "Notification",
            "group": "data",
            "class": "pipeline",
            "custom_details": {"body": "State: boom", "team": "data"},
        },
        "client": "Tocsin",
        "client_url": "https://ui.example/run/1",
        "links": [{"href": "https://ui.example/run/1", "text": "Details"}],
    }


def test_dedup_by_firing_and_body_as_summary_for_the_default_subject(sink, http):
    sink.expect_request("/v2/enqueue").respond_with_json({"status": "success"}, status=202)
    block = validate_block(
        "pager-duty-webhook", {"integration_key_secret": "pd", "api_base_url": sink.url_for("/")}
    )
    notifier = PagerDutyNotifier(http=http, resolve_secret={"pd": KEY}.__getitem__)
    notifier.send(block, DEFAULT_SUBJECT, "Flow etl failed\nmore", delivery_id="d-1", dedup_key="firing-1")
    sent = sink.log[0][0].get_json()
    assert (sent["routing_key"], sent["dedup_key"], sent["payload"]["summary"]) == (
        KEY,
        "firing-1",
        "Flow etl failed",
    )


def test_faults(sink, http, fault_drill):
    block = block_for(sink)
    fault_drill(
        "/v2/enqueue", lambda: PagerDutyNotifier(http=http).send(block, "s", "b", delivery_id="d"), secret=KEY
    )
