"""PagerDuty Events API v2: /v2/enqueue, dedup_key = delivery id (or the firing id), key never in errors."""

import pytest

from tocsin.errors import ValidationFailed
from tocsin.notifications import HttpSender
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


def _sent_keys(sink, block, sends):
    sink.clear()
    sink.expect_request("/v2/enqueue").respond_with_json({"status": "success"}, status=202)
    notifier = PagerDutyNotifier(http=HttpSender(timeout_seconds=2))
    for subject, delivery_id, firing_id in sends:
        notifier.send(block, subject, "b", delivery_id=delivery_id, dedup_key=firing_id)
    # (the fault drill's hanging request may still land in this log: keep only ours)
    ours = {delivery_id for _, delivery_id, _ in sends}
    return [r.get_json()["dedup_key"] for r, _ in sink.log if r.headers.get("X-Tocsin-Delivery-Id") in ours]


def test_dedup_firing_is_the_default_and_uses_the_firing_id(sink):
    sends = [("s", "d-1", "f-1"), ("s", "d-2", "f-1"), ("s", "d-3", "f-2"), ("s", "d-4", None)]
    assert _sent_keys(sink, block_for(sink), sends) == ["f-1", "f-1", "f-2", "d-4"]
    assert _sent_keys(sink, block_for(sink, dedup="firing"), sends) == ["f-1", "f-1", "f-2", "d-4"]


def test_dedup_delivery_makes_each_notification_its_own_incident(sink):
    sends = [("s", "d-1", "f-1"), ("s", "d-2", "f-1"), ("s", "d-1", "f-1")]  # the third is a retry of d-1
    assert _sent_keys(sink, block_for(sink, dedup="delivery"), sends) == ["d-1", "d-2", "d-1"]


def test_dedup_template_renders_firing_delivery_and_subject(sink):
    block = block_for(sink, dedup="template", dedup_key_template="etl/{{subject}}/{{ firing_id }}/{{delivery_id}}")
    assert _sent_keys(sink, block, [("db down", "d-1", "f-1")]) == ["etl/db down/f-1/d-1"]
    constant = block_for(sink, dedup="template", dedup_key_template="etl-failures")
    assert _sent_keys(sink, constant, [("a", "d-1", "f-1"), ("b", "d-2", "f-2")]) == ["etl-failures"] * 2
    # a subject that itself reads like a placeholder is not expanded again; empty falls back to the firing id
    by_subject = block_for(sink, dedup="template", dedup_key_template="{{subject}}")
    assert _sent_keys(sink, by_subject, [("{{firing_id}}", "d-1", "f-1"), ("  ", "d-2", "f-2")]) == [
        "{{firing_id}}", "f-2"]
    [long_key] = _sent_keys(sink, by_subject, [("x" * 300, "d-1", "f-1")])
    assert long_key.startswith("sha256:") and len(long_key) == len("sha256:") + 64


def test_dedup_settings_are_checked_when_the_block_is_written():
    def problems(**data):
        with pytest.raises(ValidationFailed) as info:
            validate_block("pager-duty", {"routing_key": KEY, **data})
        return info.value.problems

    assert problems(dedup="incident")[0][0] == "data.dedup"
    assert problems(dedup="template") == [
        ("data.dedup_key_template", 'is required when dedup is "template"')]
    assert problems(dedup_key_template="k")[0][0] == "data.dedup_key_template"
    assert problems(dedup="delivery", dedup_key_template="k")[0][0] == "data.dedup_key_template"
    [(path, reason)] = problems(dedup="template", dedup_key_template="{{trigger_id}}")
    assert path == "data.dedup_key_template" and "unknown placeholder {{trigger_id}}" in reason
    assert validate_block("pager-duty", {"routing_key": KEY, "dedup": "automation"}).dedup == "automation"
    block = validate_block("pager-duty", {"routing_key": KEY, "dedup": "template", "dedup_key_template": "k"})
    assert (block.dedup, block.dedup_key_template) == ("template", "k")


def test_automation_dedup_keys_every_firing_of_an_automation_alike():
    from tocsin.notifications.pagerduty import dedup_key_for

    block = validate_block("pager-duty", {"routing_key": KEY, "dedup": "automation"})
    keys = {dedup_key_for(block, delivery_id=f"d{i}", firing_id=f"f{i}", subject="s", automation_id="a1")
            for i in range(3)}
    assert keys == {"tocsin-automation-a1"}
    assert dedup_key_for(block, delivery_id="d", firing_id="f", subject="s", automation_id=None) == "f"
    templated = validate_block("pager-duty", {"routing_key": KEY, "dedup": "template",
                                              "dedup_key_template": "team-x/{{automation_id}}"})
    assert dedup_key_for(templated, delivery_id="d", firing_id="f", subject="s", automation_id="a1") == "team-x/a1"
