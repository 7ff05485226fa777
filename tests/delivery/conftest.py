"""Fixtures for delivery tests: an engine on a loopback port with fast retries, a threaded HTTP sink, and
small helpers to wire a block + automation and wait for action outcome events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import LiveServer, start_thread_server

FAST = {"TOCSIN_OUTBOX_BACKOFF_SECONDS": "0.05", "TOCSIN_OUTBOX_MAX_ATTEMPTS": "3"}


@pytest.fixture
def engine(tmp_path: Any) -> Iterator[LiveServer]:
    server = start_thread_server(tmp_path / "home", env=FAST)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sink_server() -> Iterator[HTTPServer]:
    # threaded, so a handler that hangs does not hold up the retry that follows it
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def sink(sink_server: HTTPServer) -> Iterator[HTTPServer]:
    sink_server.clear()
    yield sink_server
    sink_server.clear()


def event(name: str, resource_id: str = "test.thing.1", **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "event": name,
        "occurred": datetime.now(UTC).isoformat(),
        "resource": {"prefect.resource.id": resource_id},
        **extra,
    }


def reactive(expect: str) -> dict[str, Any]:
    return {"type": "event", "posture": "Reactive", "expect": [expect], "threshold": 1, "within": 0}


def make_block(c: Any, block_type: str, data: dict[str, Any], name: str | None = None) -> str:
    r = c.post(
        "/blocks/",
        json={"name": name or f"{block_type}-{uuid.uuid4().hex[:6]}", "type": block_type, "data": data},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def make_automation(c: Any, expect: str, actions: list[dict[str, Any]], **extra: Any) -> str:
    r = c.post(
        "/automations/",
        json={"name": f"auto-{expect}", "trigger": reactive(expect), "actions": actions, **extra},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def outcomes(c: Any, name: str) -> list[dict[str, Any]]:
    return list(c.post("/events/filter", json={"filter": {"event": {"name": [name]}}}).json()["events"])


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
