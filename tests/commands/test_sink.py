"""`tocsin sink` recognises each service's request shape and keeps what arrived, over real HTTP and SMTP."""

import smtplib
import socket
from email.message import EmailMessage

import requests

from tocsin.commands.sink import SinkServer, format_record, start_smtp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_slack_pagerduty_twilio_and_plain_webhooks_are_told_apart():
    sink = SinkServer().start()
    try:
        assert requests.post(sink.url + "/slack", json={"text": "flow etl failed"},
                             headers={"X-Tocsin-Delivery-Id": "d1"}).status_code == 200
        r = requests.post(sink.url + "/v2/enqueue", json={
            "routing_key": "k", "event_action": "trigger", "dedup_key": "d2",
            "payload": {"summary": "3 failures", "severity": "critical", "source": "tocsin"}})
        assert r.status_code == 202
        r = requests.post(sink.url + "/2010-04-01/Accounts/AC1/Messages.json", data={"To": "+100", "Body": "down"})
        assert r.status_code == 201
        requests.post(sink.url + "/hook", data=b"raw body")
    finally:
        sink.stop()
    slack, pd, sms, hook = sink.records
    assert (slack["channel"], slack["text"], slack["delivery_id"]) == ("slack", "flow etl failed", "d1")
    assert (pd["channel"], pd["severity"], pd["dedup_key"], pd["text"]) == ("pagerduty", "critical", "d2", "3 failures")
    assert (sms["channel"], sms["to"], sms["text"]) == ("twilio-sms", "+100", "down")
    assert (hook["channel"], hook["text"]) == ("webhook", "raw body")
    assert format_record(pd) == "[pagerduty] severity=critical 3 failures"


def test_email_arrives_over_real_smtp():
    sink = SinkServer()
    port = free_port()
    controller = start_smtp(sink, "127.0.0.1", port)
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "tocsin@example.com", "ops@example.com", "SLA missed"
        message.set_content("flow etl is late")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(message)
    finally:
        controller.stop()
    [mail] = sink.records
    assert (mail["channel"], mail["to"], mail["subject"], mail["text"]) == ("email", "ops@example.com", "SLA missed",
                                                                           "flow etl is late")
