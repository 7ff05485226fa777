"""Every channel end to end, from an ingested event to a loopback receiver (pytest-httpserver, aiosmtpd),
and the dispatcher's fault handling: 500 then 200, 429 + Retry-After, a hang past the timeout, a permanent
400 dead-lettered then retried through /api/deliveries."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from aiosmtpd.controller import Controller
from werkzeug import Request, Response

from tests.delivery.conftest import event, make_automation, make_block, outcomes, wait_for


class Recorder:
    """A sink handler that records every request and answers from a script (the last answer repeats)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers) or [Response("ok", 200)]
        self.requests: list[Request] = []
        self.times: list[float] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        answer = self.answers[min(len(self.requests) - 1, len(self.answers) - 1)]
        return answer if isinstance(answer, Response) else answer()

    def ids(self) -> list[str]:
        return [r.headers["X-Tocsin-Delivery-Id"] for r in self.requests]


def test_slack_notification_arrives_once_with_the_rendered_text(engine, sink) -> None:
    got = Recorder()
    sink.expect_request("/services/T0/B0/slack").respond_with_handler(got)
    with engine.client() as c:
        block = make_block(c, "slack-webhook", {"url": sink.url_for("/services/T0/B0/slack")})
        make_automation(
            c,
            "test.slack",
            [
                {
                    "type": "send-notification",
                    "block_document_id": block,
                    "subject": "Down: {{ event.resource.id }}",
                    "body": "event {{ event.event }} from {{ automation.name }}",
                }
            ],
        )
        c.post("/events", json=[event("test.slack", "svc.api")])
        executed = wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"))
    time.sleep(0.1)
    assert len(got.requests) == 1
    text = json.loads(got.requests[0].get_data())["text"]
    assert "Down: svc.api" in text and "event test.slack from auto-test.slack" in text
    assert executed[0]["payload"]["status_code"] == 200
    assert executed[0]["payload"]["invocation"] == got.ids()[0]


def test_pagerduty_event_uses_the_firing_id_as_dedup_key(engine, sink) -> None:
    got = Recorder(Response('{"status":"success","dedup_key":"x"}', 202))
    sink.expect_request("/v2/enqueue").respond_with_handler(got)
    with engine.client() as c:
        block = make_block(
            c,
            "pager-duty",
            {"routing_key": "R0123456789abcdef0123456789abcd", "api_base_url": sink.url_for("/").rstrip("/")},
        )
        auto = make_automation(
            c,
            "test.pd",
            [{"type": "send-notification", "block_document_id": block, "subject": "sev1", "body": "db down"}],
        )
        c.post("/events", json=[event("test.pd")])
        wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"))
        firing_id = c.get(f"/automations/{auto}/state").json()["recent_firings"][0]["id"]
    body = json.loads(got.requests[0].get_data())
    assert body["dedup_key"] == firing_id and body["event_action"] == "trigger"
    assert body["routing_key"] == "R0123456789abcdef0123456789abcd"
    assert "sev1" in body["payload"]["summary"]


def test_call_webhook_sends_templated_payload_and_headers(engine, sink) -> None:
    got = Recorder()
    sink.expect_request("/hook", method="PUT").respond_with_handler(got)
    with engine.client() as c:
        block = make_block(
            c,
            "webhook",
            {
                "url": sink.url_for("/hook"),
                "method": "PUT",
                "headers": {"Authorization": "Bearer hook-token-0123456789"},
            },
        )
        sent = event("test.hook")
        make_automation(
            c,
            "test.hook",
            [
                {
                    "type": "call-webhook",
                    "block_document_id": block,
                    "payload": '{"id": "{{ event.id }}"}',
                    "headers": {"X-Event": "{{ event.event }}"},
                }
            ],
        )
        c.post("/events", json=[sent])
        wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"))
    request = got.requests[0]
    assert json.loads(request.get_data()) == {"id": sent["id"]}
    assert request.headers["X-Event"] == "test.hook"
    assert request.headers["Authorization"] == "Bearer hook-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def test_email_reaches_a_real_smtp_server(engine) -> None:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        with engine.client() as c:
            block = make_block(
                c,
                "email",
                {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": controller.port,
                    "security": "none",
                    "from_email": "tocsin@example.com",
                    "to_emails": ["ops@example.com", "dba@example.com"],
                },
            )
            make_automation(
                c,
                "test.mail",
                [
                    {
                        "type": "send-notification",
                        "block_document_id": block,
                        "subject": "disk full",
                        "body": "on {{ event.resource.id }}",
                    }
                ],
            )
            c.post("/events", json=[event("test.mail", "host.db1")])
            wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"))
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    envelope = inbox.messages[0]
    assert sorted(envelope.rcpt_tos) == ["dba@example.com", "ops@example.com"]
    text = envelope.content.decode()
    assert "disk full" in text and "host.db1" in text


def _hook(engine: Any, sink: Any, path: str, got: Recorder, expect: str) -> None:
    sink.expect_request(path).respond_with_handler(got)
    with engine.client() as c:
        block = make_block(c, "webhook", {"url": sink.url_for(path)})
        make_automation(c, expect, [{"type": "call-webhook", "block_document_id": block, "payload": "x"}])
        c.post("/events", json=[event(expect)])


def test_a_500_is_retried_and_the_notification_arrives_once(engine, sink) -> None:
    got = Recorder(Response("boom", 500), Response("ok", 200))
    _hook(engine, sink, "/flaky", got, "test.flaky")
    with engine.client() as c:
        executed = wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"))
        time.sleep(0.2)
        assert len(got.requests) == 2 and len(set(got.ids())) == 1
        assert executed[0]["payload"]["attempts"] == 2
        assert c.get(f"/deliveries/{got.ids()[0]}").json()["status"] == "delivered"


def test_a_429_waits_for_retry_after(engine, sink) -> None:
    got = Recorder(Response("slow down", 429, headers={"Retry-After": "1"}), Response("ok", 200))
    _hook(engine, sink, "/limited", got, "test.limited")
    with engine.client() as c:
        wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"), timeout=10)
    assert len(got.requests) == 2
    assert got.times[1] - got.times[0] >= 0.95  # not the 0.05 s backoff: the receiver's Retry-After


def test_a_hang_past_the_timeout_is_retried(engine, sink) -> None:
    def hang() -> Response:
        time.sleep(1.5)
        return Response("too late", 200)

    got = Recorder(hang, Response("ok", 200))
    sink.expect_request("/hang").respond_with_handler(got)
    with engine.client() as c:
        block = make_block(
            c,
            "custom-webhook",
            {"url": sink.url_for("/hang"), "timeout": 0.3, "json_data": {"text": "{{subject}}: {{body}}"}},
        )
        make_automation(
            c,
            "test.hang",
            [{"type": "send-notification", "block_document_id": block, "subject": "s", "body": "b"}],
        )
        c.post("/events", json=[event("test.hang")])
        executed = wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"), timeout=10)
    assert len(got.requests) == 2 and len(set(got.ids())) == 1
    assert executed[0]["payload"]["attempts"] == 2


def test_a_permanent_400_is_dead_lettered_then_retried_through_the_api(engine, sink) -> None:
    state = {"ok": False}
    got = Recorder(lambda: Response("ok", 200) if state["ok"] else Response("bad payload", 400))
    _hook(engine, sink, "/strict", got, "test.strict")
    with engine.client() as c:
        dead = wait_for(lambda: c.get("/deliveries", params={"status": "dead"}).json())
        assert len(got.requests) == 1  # permanent: not retried
        assert dead[0]["attempts"] == 1 and "400" in dead[0]["last_error"]
        failed = wait_for(lambda: outcomes(c, "tocsin.automation.action.failed"))
        assert failed[0]["payload"]["status_code"] == 400 and "400" in failed[0]["payload"]["reason"]
        state["ok"] = True
        assert c.post(f"/deliveries/{dead[0]['id']}/retry").status_code == 204
        wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"))
        assert c.get("/deliveries", params={"status": "dead"}).json() == []
        assert c.post(f"/deliveries/{dead[0]['id']}/retry").status_code == 404
        assert c.get("/deliveries", params={"status": "nope"}).status_code == 422
    assert got.ids() == [dead[0]["id"]] * 2  # the retry keeps the idempotency key


def test_a_template_error_at_send_time_is_permanent_and_reported(engine, sink) -> None:
    got = Recorder()
    sink.expect_request("/tpl").respond_with_handler(got)
    with engine.client() as c:
        block = make_block(c, "webhook", {"url": sink.url_for("/tpl")})
        make_automation(
            c,
            "test.tpl",
            [
                {
                    "type": "call-webhook",
                    "block_document_id": block,
                    "payload": "{% for i in range(1000) %}{{ i }}{% endfor %}",
                }
            ],
        )
        c.post("/events", json=[event("test.tpl")])
        failed = wait_for(lambda: outcomes(c, "tocsin.automation.action.failed"))
    assert "template_error" in failed[0]["payload"]
    assert got.requests == []


def test_teams_card_and_twilio_sms_with_a_named_secret_token(engine, sink) -> None:
    teams, sms = Recorder(Response("", 202)), Recorder(Response('{"sid": "SM1"}', 201))
    sink.expect_request("/workflows/teams").respond_with_handler(teams)
    sink.expect_request("/2010-04-01/Accounts/AC0123456789/Messages.json").respond_with_handler(sms)
    with engine.client() as c:
        assert (
            c.post("/secrets/", json={"name": "twilio-token", "value": "tw-token-0123456789"}).status_code
            == 201
        )
        teams_block = make_block(c, "ms-teams-webhook", {"url": sink.url_for("/workflows/teams")})
        sms_block = make_block(
            c,
            "twilio-sms",
            {
                "account_sid": "AC0123456789",
                "auth_token_secret": "twilio-token",
                "from_phone_number": "+15550000000",
                "to_phone_numbers": ["+15551111111", "+15552222222"],
                "api_base_url": sink.url_for("/").rstrip("/"),
            },
        )
        make_automation(
            c,
            "test.two",
            [
                {"type": "send-notification", "block_document_id": teams_block, "subject": "T", "body": "b1"},
                {"type": "send-notification", "block_document_id": sms_block, "subject": "S", "body": "b2"},
            ],
        )
        c.post("/events", json=[event("test.two")])
        wait_for(lambda: len(outcomes(c, "tocsin.automation.action.executed")) == 2)
    assert "b1" in teams.requests[0].get_data(as_text=True)
    assert sorted(r.form["To"] for r in sms.requests) == ["+15551111111", "+15552222222"]
    assert all(r.authorization.password == "tw-token-0123456789" for r in sms.requests)


def test_twilio_retry_sends_only_to_the_numbers_not_reached(engine, sink) -> None:
    """Number 1 gets its message, Twilio answers 503 for number 2: the retry sends to number 2 only."""
    sms = Recorder(Response('{"sid": "SM1"}', 201), Response("busy", 503), Response('{"sid": "SM2"}', 201))
    sink.expect_request("/2010-04-01/Accounts/AC0123456789/Messages.json").respond_with_handler(sms)
    with engine.client() as c:
        c.post("/secrets/", json={"name": "twilio-token", "value": "tw-token-0123456789"}).raise_for_status()
        sms_block = make_block(c, "twilio-sms", {
            "account_sid": "AC0123456789", "auth_token_secret": "twilio-token",
            "from_phone_number": "+15550000000", "to_phone_numbers": ["+15551111111", "+15552222222"],
            "api_base_url": sink.url_for("/").rstrip("/")})
        make_automation(c, "test.sms.retry", [
            {"type": "send-notification", "block_document_id": sms_block, "subject": "S", "body": "b"}])
        c.post("/events", json=[event("test.sms.retry")])
        executed = wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"))
    assert [r.form["To"] for r in sms.requests] == ["+15551111111", "+15552222222", "+15552222222"]
    assert executed[0]["payload"]["attempts"] == 2
    assert len(set(sms.ids())) == 1  # one delivery, one key, across both attempts
