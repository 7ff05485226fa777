"""The engine on PostgreSQL: the same API, and two server processes sharing one database where killing the
evaluating one loses no event, duplicates no firing and keeps proactive deadlines."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import start_thread_server
from tests.server.helpers import automation, event, firings, reactive, wait_for

pytestmark = pytest.mark.postgres


def test_api_and_evaluation_on_postgres(tmp_path, pg_url) -> None:
    live = start_thread_server(tmp_path / "home", pg_url)
    try:
        with live.client() as c:
            aid = c.post("/automations/", json=automation("pg", reactive(expect="test.pg", threshold=2,
                                                                         within=60))).json()["id"]
            e = event("test.pg")
            assert c.post("/events", json=[e, e]).status_code == 204  # duplicate id in one batch
            assert c.post("/events", json=[e]).status_code == 204  # and re-sent
            body = automation("pg renamed", reactive(expect="test.pg", threshold=2, within=60))
            live.worker.wait_idle()
            assert c.put(f"/automations/{aid}", json=body).status_code == 204  # keeps the window
            c.post("/events", json=[event("test.pg")])
            assert len(wait_for(lambda: firings(c, aid))) == 1
            page = c.post("/events/filter", json={"filter": {"event": {"name": ["test.pg"]}}, "limit": 1}).json()
            assert page["total"] == 2 and page["next_page"]
            assert len(c.get(page["next_page"]).json()["events"]) == 1
    finally:
        live.stop()


def _leader(servers) -> int:
    for i, sp in enumerate(servers):
        try:
            text_ = httpx.get(sp.base_url + "/metrics", headers=sp.headers(), timeout=2).text
        except httpx.HTTPError:
            continue
        if "tocsin_evaluation_leader 1.0" in text_:
            return i
    return -1


def test_two_processes_share_work_and_survive_the_evaluator_being_killed(server_process, tmp_path, pg_url) -> None:
    a = server_process(pg_url, home=tmp_path / "a")
    b = server_process(pg_url, home=tmp_path / "b")
    db = create_engine(pg_url)
    proactive = {"type": "event", "posture": "Proactive", "expect": ["test.beat"], "threshold": 1, "within": 10}
    with httpx.Client(base_url=a.api, headers=a.headers()) as c:
        reactive_id = c.post("/automations/", json=automation("each", reactive(expect="test.two"))).json()["id"]
        silence_id = c.post("/automations/", json=automation("silence", proactive)).json()["id"]
        windows = wait_for(lambda: c.get(f"/automations/{silence_id}/state").json()["windows"])
    deadline = datetime.fromisoformat(windows[0]["deadline"])
    leader = wait_for(lambda: _leader([a, b]) + 1) - 1
    survivor = [a, b][1 - leader]
    sent: list[str] = []
    for sp in (a, b):  # both processes take events
        batch = [event("test.two") for _ in range(50)]
        assert httpx.post(sp.api + "/events", json=batch, headers=sp.headers()).status_code == 204
        sent += [e["id"] for e in batch]
    [a, b][leader].kill()
    batch = [event("test.two") for _ in range(50)]
    assert httpx.post(survivor.api + "/events", json=batch, headers=survivor.headers()).status_code == 204
    sent += [e["id"] for e in batch]

    def fired() -> tuple[int, int]:
        with db.connect() as conn:
            return conn.execute(text("SELECT count(*), count(DISTINCT event_id) FROM firings "
                                     "WHERE automation_id = :a"), {"a": reactive_id}).one()

    wait_for(lambda: fired()[0] >= len(sent), timeout=20)
    time.sleep(0.3)
    assert fired() == (len(sent), len(sent))
    with db.connect() as conn:
        firing_events = {r[0] for r in conn.execute(
            text("SELECT event_id FROM firings WHERE automation_id = :a"), {"a": reactive_id})}
    assert firing_events == set(sent)
    # the proactive window, opened by the killed leader, fires on the survivor at its original deadline
    with httpx.Client(base_url=survivor.api, headers=survivor.headers()) as c:
        got = wait_for(lambda: c.get(f"/automations/{silence_id}/state").json()["recent_firings"], timeout=20)
    lateness = (datetime.fromisoformat(got[-1]["triggered"]) - deadline).total_seconds()
    assert 0 <= lateness < 0.5, lateness
    assert len(got) == 1
