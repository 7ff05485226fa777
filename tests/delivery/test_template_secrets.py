"""Templates may use stored secrets by name (`{{ secrets['name'] }}`): read at send time, never shown back."""

import json

from werkzeug import Response

from tests.delivery.conftest import event, make_automation, make_block, outcomes, wait_for
from tests.delivery.test_channels import Recorder

TOKEN = "tok-template-secret-5f2a9c41"


def test_a_template_sends_a_named_secret_and_nothing_shows_it_back(engine, sink) -> None:
    got = Recorder(Response("ok", 200))
    sink.expect_request("/with-secret").respond_with_handler(got)
    with engine.client() as c:
        assert c.post("/secrets/", json={"name": "hook-token", "value": TOKEN}).status_code == 201
        block = make_block(c, "webhook", {"url": sink.url_for("/with-secret")})
        automation = make_automation(c, "test.secret", [{
            "type": "call-webhook", "block_document_id": block, "payload": '{"id": "{{ event.id }}"}',
            "headers": {"Authorization": "Bearer {{ secrets['hook-token'] }}"}}])
        c.post("/events", json=[event("test.secret")])
        wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"))
        assert got.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
        shown = json.dumps([
            c.get(f"/automations/{automation}").json(),
            c.get("/deliveries").json(),
            c.post("/events/filter", json={"limit": 50}).json(),
            c.post("/secrets/filter", json={}).json(),
        ])
    assert TOKEN not in shown


def test_a_missing_secret_is_a_template_error_that_dead_letters(engine, sink) -> None:
    with engine.client() as c:
        block = make_block(c, "webhook", {"url": sink.url_for("/never")})
        make_automation(c, "test.nosecret", [{"type": "call-webhook", "block_document_id": block,
                                               "payload": "{{ secrets.nope }}"}])
        c.post("/events", json=[event("test.nosecret")])
        [failed] = wait_for(lambda: outcomes(c, "tocsin.automation.action.failed"))
        assert "no secret named 'nope'" in failed["payload"]["template_error"]
        assert wait_for(lambda: c.get("/deliveries", params={"status": "dead"}).json())
