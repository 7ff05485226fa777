"""Actions through the outbox to real loopback endpoints (pytest-httpserver): exactly one delivery per
idempotency key, retries with backoff, Retry-After, dead letters and their retry, secrets never returned."""

from __future__ import annotations

import json
import time

import pytest
from werkzeug import Request, Response

from tests.conftest import start_thread_server
from tests.server.helpers import event, reactive, wait_for

FAST = {"TOCSIN_OUTBOX_BACKOFF_SECONDS": "0.05", "TOCSIN_OUTBOX_MAX_ATTEMPTS": "3"}


@pytest.fixture
def engine(tmp_path):
    server = start_thread_server(tmp_path / "home", env=FAST)
    yield server
    server.stop()


def _setup(c, sink_url: str, name: str, expect: str) -> str:
    block = c.post("/blocks/", json={"name": f"{name}-hook", "type": "webhook", "data": {"url": sink_url}})
    assert block.status_code == 201, block.text
    action = {"type": "call-webhook", "block_document_id": block.json()["id"],
              "payload": '{"event_id": "{{ event.id }}", "automation": "{{ automation.name }}"}'}
    r = c.post("/automations/", json={"name": name, "trigger": reactive(expect=expect), "actions": [action]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _outcomes(c, name: str) -> list[dict]:
    return c.post("/events/filter", json={"filter": {"event": {"name": [name]}}}).json()["events"]


def test_call_webhook_delivers_once_with_a_delivery_id(engine, httpserver) -> None:
    got: list[Request] = []

    def handler(request: Request) -> Response:
        got.append(request)
        return Response("ok", 200)

    httpserver.expect_request("/hook").respond_with_handler(handler)
    with engine.client() as c:
        _setup(c, httpserver.url_for("/hook"), "deliver", "test.deliver")
        sent = event("test.deliver")
        c.post("/events", json=[sent])
        wait_for(lambda: _outcomes(c, "tocsin.automation.action.executed"))
        time.sleep(0.2)
        assert len(got) == 1
        assert got[0].headers["X-Tocsin-Delivery-Id"]
        assert json.loads(got[0].get_data()) == {"event_id": sent["id"], "automation": "deliver"}
        assert c.get("/deliveries").json()[0]["status"] == "delivered"


def test_failures_are_retried_with_backoff_and_retry_after(engine, httpserver) -> None:
    answers = [Response("no", 500), Response("slow down", 429, headers={"Retry-After": "1"}), Response("ok", 200)]
    times: list[float] = []
    ids: list[str] = []

    def handler(request: Request) -> Response:
        times.append(time.monotonic())
        ids.append(request.headers["X-Tocsin-Delivery-Id"])
        return answers[min(len(times) - 1, 2)]

    httpserver.expect_request("/flaky").respond_with_handler(handler)
    with engine.client() as c:
        _setup(c, httpserver.url_for("/flaky"), "flaky", "test.flaky")
        c.post("/events", json=[event("test.flaky")])
        wait_for(lambda: _outcomes(c, "tocsin.automation.action.executed"), timeout=15)
    assert len(times) == 3 and len(set(ids)) == 1  # one idempotency key across attempts
    assert times[2] - times[1] >= 0.95  # Retry-After honoured


def test_dead_letter_after_max_attempts_then_retry_through_the_api(engine, httpserver) -> None:
    state = {"fail": True, "calls": 0}

    def handler(request: Request) -> Response:
        state["calls"] += 1
        return Response("down", 503) if state["fail"] else Response("ok", 200)

    httpserver.expect_request("/down").respond_with_handler(handler)
    with engine.client() as c:
        _setup(c, httpserver.url_for("/down"), "down", "test.down")
        c.post("/events", json=[event("test.down")])
        dead = wait_for(lambda: c.get("/deliveries", params={"status": "dead"}).json(), timeout=15)
        assert dead[0]["attempts"] == 3 and "503" in dead[0]["last_error"]
        failed = wait_for(lambda: _outcomes(c, "tocsin.automation.action.failed"))
        assert failed[0]["payload"]["status_code"] == 503
        state["fail"] = False
        assert c.post(f"/deliveries/{dead[0]['id']}/retry").status_code == 204
        wait_for(lambda: _outcomes(c, "tocsin.automation.action.executed"), timeout=15)
        assert c.get("/deliveries", params={"status": "dead"}).json() == []
        assert c.post(f"/deliveries/{dead[0]['id']}/retry").status_code == 404
    assert state["calls"] == 4


def test_secrets_are_encrypted_and_never_returned(engine, httpserver, tmp_path) -> None:
    httpserver.expect_request("/secret-hook").respond_with_data("ok")
    url = httpserver.url_for("/secret-hook")
    with engine.client() as c:
        created = c.post("/secrets/", json={"name": "hook-url", "value": url})
        assert created.status_code == 201 and "value" not in created.json()
        assert created.json()["version"] == 1
        rotated = c.put(f"/secrets/{created.json()['id']}", json={"value": url})
        assert rotated.json()["version"] == 2
        block = c.post("/blocks/", json={"name": "by-ref", "type": "webhook", "data": {"url_secret": "hook-url"}})
        assert block.status_code == 201, block.text
        inline = c.post("/blocks/", json={"name": "inline", "type": "webhook", "data": {"url": url}}).json()
        assert inline["data"]["url"] == {"secret": True}
        action = {"type": "call-webhook", "block_document_id": block.json()["id"], "payload": "hi"}
        c.post("/automations/", json={"name": "by-ref", "trigger": reactive(expect="test.sec"),
                                      "actions": [action]})
        c.post("/events", json=[event("test.sec")])
        wait_for(lambda: _outcomes(c, "tocsin.automation.action.executed"))
        everything = "".join(c.get(p).text for p in ("/secrets/" + created.json()["id"], "/blocks/" + inline["id"],
                                                     "/deliveries")) + c.post("/secrets/filter", json={}).text
        everything += c.post("/blocks/filter", json={}).text
        everything += c.post("/events/filter", json={"filter": {"event": {"prefix": ["tocsin."]}}}).text
        assert url not in everything
        for path in (tmp_path / "home").glob("tocsin.db*"):  # the database and its WAL
            assert url.encode() not in path.read_bytes()
        bad = c.post("/blocks/", json={"name": "x", "type": "nope", "data": {}})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "type"
