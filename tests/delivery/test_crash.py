"""kill -9 of a `tocsin server` in the middle of a stream of deliveries, then a restart: every idempotency key
arrives, none is lost; a key may arrive twice only if its attempt was in flight at the kill (the receiver can
drop it by the key), and the test counts those honestly. Secret values appear in no log line of either run
and in no API response."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from werkzeug import Request, Response

from tests.delivery.conftest import event, reactive, wait_for

EVENTS = 40
TOKEN_IN_URL = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
HEADER_SECRET = "hdr-secret-5a4b3c2d1e0f9a8b7c6d5e4f"


def test_kill_9_mid_delivery_loses_no_key(server_process, sink, monkeypatch) -> None:
    monkeypatch.setenv("TOCSIN_OUTBOX_CLAIM_SECONDS", "2")
    monkeypatch.setenv("TOCSIN_OUTBOX_BACKOFF_SECONDS", "0.05")
    lock = threading.Lock()
    received: list[str] = []

    def handler(request: Request) -> Response:
        time.sleep(0.1)  # slow enough that deliveries are in flight when the engine dies
        with lock:
            received.append(request.headers["X-Tocsin-Delivery-Id"])
        return Response("ok")

    path = f"/hooks/{TOKEN_IN_URL}"
    sink.expect_request(path).respond_with_handler(handler)
    server = server_process(args=["--log-level", "DEBUG"])  # every delivery's line, scanned for secrets below
    c = httpx.Client(base_url=server.api, headers=server.headers(), timeout=30)
    secret = c.post("/secrets/", json={"name": "hook-url", "value": sink.url_for(path)})
    assert secret.status_code == 201
    block = c.post(
        "/blocks/",
        json={
            "name": "crash-hook",
            "type": "webhook",
            "data": {"url_secret": "hook-url", "headers": {"Authorization": f"Bearer {HEADER_SECRET}"}},
        },
    ).json()
    r = c.post(
        "/automations/",
        json={
            "name": "crash",
            "trigger": reactive("test.crash"),
            "actions": [
                {"type": "call-webhook", "block_document_id": block["id"], "payload": "{{ event.id }}"}
            ],
        },
    )
    assert r.status_code == 201, r.text
    assert c.post("/events", json=[event("test.crash") for _ in range(EVENTS)]).status_code == 204
    wait_for(lambda: len(received) >= 8, timeout=20)
    server.kill()
    at_kill = len(received)
    first_log = server.log()

    server.start()
    c = httpx.Client(base_url=server.api, headers=server.headers(), timeout=30)

    def all_delivered() -> list[dict[str, Any]] | None:
        rows = c.get("/deliveries", params={"limit": 1000}).json()
        return rows if len(rows) == EVENTS and all(d["status"] == "delivered" for d in rows) else None

    rows = wait_for(all_delivered, timeout=30)
    time.sleep(0.3)
    keys = {d["id"] for d in rows}
    with lock:
        got = list(received)
    duplicates = len(got) - len(set(got))
    assert at_kill < EVENTS, "the kill came after the last delivery; nothing was tested"
    assert set(got) == keys  # every key arrived, and nothing but the keys
    assert duplicates <= 4, f"{duplicates} duplicates: more than the in-flight limit per destination"
    print(f"kill -9 after {at_kill}/{EVENTS} deliveries: 0 lost, {duplicates} duplicate(s) (same key)")

    everything = first_log + server.log()
    everything += c.get(f"/blocks/{block['id']}").text + c.post("/blocks/filter", json={}).text
    everything += c.post("/secrets/filter", json={}).text + c.get("/deliveries").text
    everything += c.post(
        "/events/filter", json={"filter": {"event": {"prefix": ["tocsin."]}}, "limit": 50}
    ).text
    assert '"msg": "delivery delivered"' in everything  # the log was captured
    for value in (TOKEN_IN_URL, HEADER_SECRET):
        assert value not in everything
    for path_ in server.home.glob("tocsin.db*"):
        data = path_.read_bytes()
        assert TOKEN_IN_URL.encode() not in data and HEADER_SECRET.encode() not in data
