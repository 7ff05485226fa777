"""Two engines on one PostgreSQL database dispatch from the same outbox: each row is claimed by one of them
(compare-and-set), so every key is sent exactly once."""

from __future__ import annotations

import threading
import time

import pytest
from werkzeug import Request, Response

from tests.conftest import start_thread_server
from tests.delivery.conftest import FAST, event, make_automation, make_block, wait_for
from tocsin.secrets import SecretBox

pytestmark = pytest.mark.postgres
EVENTS = 60


def test_two_engines_on_postgres_send_each_key_once(tmp_path, pg_url, sink) -> None:
    env = {**FAST, "TOCSIN_SECRET_KEY": SecretBox.generate_key()}  # both must read the same encrypted blocks
    a = start_thread_server(tmp_path / "a", pg_url, env=env)
    b = start_thread_server(tmp_path / "b", pg_url, env=env)
    lock = threading.Lock()
    received: list[str] = []

    def handler(request: Request) -> Response:
        time.sleep(0.01)
        with lock:
            received.append(request.headers["X-Tocsin-Delivery-Id"])
        return Response("ok")

    sink.expect_request("/pg").respond_with_handler(handler)
    try:
        with a.client() as ca, b.client() as cb:
            blocks = [make_block(ca, "webhook", {"url": sink.url_for(f"/pg?d={i}")}) for i in range(4)]
            for i, block in enumerate(blocks):
                make_automation(ca, f"test.pg{i}", [{"type": "call-webhook", "block_document_id": block}])
            for i in range(EVENTS):
                (ca if i % 2 else cb).post("/events", json=[event(f"test.pg{i % 4}")])

            def done() -> list[dict] | None:
                rows = ca.get("/deliveries", params={"limit": 1000}).json()
                return rows if len(rows) == EVENTS and all(r["status"] == "delivered" for r in rows) else None

            rows = wait_for(done, timeout=60)
        time.sleep(0.3)
        assert sorted(received) == sorted(r["id"] for r in rows)  # each key once, none lost
        assert all(r["attempts"] == 1 for r in rows)
    finally:
        a.stop()
        b.stop()
