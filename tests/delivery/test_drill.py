"""Drills: POST /api/automations/{id}/drill and `tocsin drill` send one [TEST] notification per notifying
action through the outbox, skip actions that would change things, and report the outcomes."""

from __future__ import annotations

import argparse
import io
import json
import uuid

from werkzeug import Request, Response

from tests.delivery.conftest import make_automation, make_block, outcomes, wait_for
from tocsin.commands import drill as drill_command


def _setup(c, sink) -> tuple[str, list[Request], list[Request]]:
    slack_got: list[Request] = []
    hook_got: list[Request] = []
    sink.expect_request("/slack").respond_with_handler(lambda r: slack_got.append(r) or Response("ok"))
    sink.expect_request("/hook").respond_with_handler(lambda r: hook_got.append(r) or Response("ok"))
    slack = make_block(c, "slack-webhook", {"url": sink.url_for("/slack")})
    hook = make_block(c, "webhook", {"url": sink.url_for("/hook")})
    auto = make_automation(
        c,
        "prefect.flow-run.Failed",
        [
            {
                "type": "send-notification",
                "block_document_id": slack,
                "subject": "Run failed",
                "body": "{{ flow_run.name }} is {{ event.resource['prefect.state-name'] }}",
            },
            {"type": "pause-automation", "source": "inferred"},
        ],
        actions_on_trigger=[{"type": "call-webhook", "block_document_id": hook, "payload": '{"a": 1}'}],
    )
    return auto, slack_got, hook_got


def test_drill_sends_test_marked_notifications_through_the_outbox(engine, sink) -> None:
    with engine.client() as c:
        auto, slack_got, hook_got = _setup(c, sink)
        r = c.post(f"/automations/{auto}/drill")
        assert r.status_code == 202, r.text
        body = r.json()
        assert [d["path"] for d in body["deliveries"]] == ["actions[0]", "actions_on_trigger[0]"]
        assert [s["path"] for s in body["skipped"]] == ["actions[1]"]
        executed = wait_for(
            lambda: (
                len(outcomes(c, "tocsin.automation.action.executed")) == 2
                and outcomes(c, "tocsin.automation.action.executed")
            )
        )
        assert all(e["payload"]["drill"] for e in executed)
        assert c.get(f"/automations/{auto}").json()["enabled"] is True  # pause-automation was not run
        assert c.post(f"/automations/{uuid.uuid4()}/drill").status_code == 404
    text = json.loads(slack_got[0].get_data())["text"]
    assert text.startswith("*[TEST] Run failed*") and "[TEST] sample-flow-run is Failed" in text
    assert hook_got[0].headers["X-Tocsin-Test"] == "true"
    assert json.loads(hook_got[0].get_data()) == {"a": 1}
    assert slack_got[0].headers["X-Tocsin-Delivery-Id"] == body["deliveries"][0]["id"]


def test_drill_command_waits_and_prints_each_outcome(engine, sink) -> None:
    with engine.client() as c:
        auto, _, _ = _setup(c, sink)
    out = io.StringIO()
    args = argparse.Namespace(automation=auto, url=engine.base_url, token=engine.token, timeout=10.0)
    assert drill_command.run(args, out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("actions[1] pause-automation: skipped")
    assert lines[1].startswith("actions[0] send-notification -> delivered, attempts 1")
    assert lines[2].startswith("actions_on_trigger[0] call-webhook -> delivered")


def test_drill_command_fails_when_a_delivery_is_dead(engine, sink) -> None:
    sink.expect_request("/gone").respond_with_data("gone", status=410)
    with engine.client() as c:
        hook = make_block(c, "webhook", {"url": sink.url_for("/gone")})
        auto = make_automation(c, "x.y", [{"type": "call-webhook", "block_document_id": hook}])
    out = io.StringIO()
    args = argparse.Namespace(automation=auto, url=engine.base_url, token=engine.token, timeout=10.0)
    assert drill_command.run(args, out) == 1
    assert "-> dead, attempts 1" in out.getvalue() and "410" in out.getvalue()
