"""A claim that expires while its attempt is still in flight: the row is claimed and sent again (same delivery
id), and only the attempt that holds the row settles it; the late outcome of the first attempt writes neither
the row nor outcome events."""

from __future__ import annotations

import threading
import time

import pytest
from werkzeug import Request, Response

from tests.conftest import start_thread_server
from tests.delivery.conftest import FAST, event, make_automation, make_block, outcomes, wait_for


@pytest.fixture
def short_claims(tmp_path):
    server = start_thread_server(tmp_path / "home", env={**FAST, "TOCSIN_OUTBOX_CLAIM_SECONDS": "0.3"})
    yield server
    server.stop()


def test_only_the_attempt_holding_the_row_settles_it(short_claims, sink) -> None:
    lock = threading.Lock()
    seen: list[str] = []

    def handler(request: Request) -> Response:
        with lock:
            seen.append(request.headers["X-Tocsin-Delivery-Id"])
            first = len(seen) == 1
        if first:
            time.sleep(1.0)  # past the 0.3 s claim: the row is claimed again meanwhile
        return Response("ok")

    sink.expect_request("/slow-first").respond_with_handler(handler)
    with short_claims.client() as c:
        block = make_block(c, "webhook", {"url": sink.url_for("/slow-first")})
        make_automation(c, "test.expiry", [{"type": "call-webhook", "block_document_id": block}])
        c.post("/events", json=[event("test.expiry")])
        rows = wait_for(lambda: [r for r in c.get("/deliveries").json() if r["status"] == "delivered"])
        time.sleep(1.5)  # the first attempt's answer arrives and its outcome is handed in
        executed = outcomes(c, "tocsin.automation.action.executed")
        triggered = outcomes(c, "tocsin.automation.action.triggered")
        rows = c.get("/deliveries").json()
    assert len(seen) == 2 and seen[0] == seen[1] == rows[0]["id"]  # re-sent with the same delivery id
    assert rows[0]["status"] == "delivered" and rows[0]["attempts"] == 2
    assert len(executed) == 1 and len(triggered) == 1 and executed[0]["payload"]["attempts"] == 2
