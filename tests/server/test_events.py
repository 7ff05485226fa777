"""Event ingest (HTTP and websocket), idempotency, bad input and the paged EventFilter."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.server.helpers import event, wait_for


def _count(c, **flt) -> int:
    return c.post("/events/filter", json={"filter": flt, "limit": 1}).json()["total"]


def test_posted_events_are_stored_with_received_stamped(live) -> None:
    with live.client() as c:
        sent = [event(resource_id=f"test.r.{i}") for i in range(3)]
        assert c.post("/events", json=sent).status_code == 204
        got = c.post("/events/filter", json={"filter": {"event": {"name": ["test.ping"]}}, "limit": 50}).json()
        assert {e["id"] for e in got["events"]} == {e["id"] for e in sent}
        assert all(e["received"] for e in got["events"])


def test_resent_event_ids_are_ignored(live) -> None:
    with live.client() as c:
        e = event()
        for _ in range(3):
            assert c.post("/events", json=[e, e]).status_code == 204
        assert _count(c, id={"id": [e["id"]]}) == 1


def test_malformed_json_is_rejected_and_nothing_is_written(live) -> None:
    with live.client() as c:
        r = c.post("/events", content=b'[{"event": "x", ', headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert "not valid JSON" in r.json()["detail"][0]["msg"]
        r = c.post("/events", json={"event": "not-a-list"})
        assert r.status_code == 422


def test_one_invalid_event_rejects_the_whole_batch_with_its_field_path(live) -> None:
    with live.client() as c:
        good = event(name="test.batch")
        bad = event(name="test.batch", resource={"prefect.resource.id": "r", "count": 3})
        r = c.post("/events", json=[good, bad])
        assert r.status_code == 422
        fields = [d["field"] for d in r.json()["detail"]]
        assert fields == ["1.resource"], r.json()
        assert "must be a string" in r.json()["detail"][0]["msg"]
        missing = event(name="test.batch", resource={"name": "no id"})
        r = c.post("/events", json=[missing])
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "0.resource"
        r = c.post("/events", json=[event(name="test.batch", related=[{"prefect.resource.id": "x"}])])
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "0.related"
        assert _count(c, event={"name": ["test.batch"]}) == 0


def test_oversize_event_is_rejected_with_413_and_its_index(live) -> None:
    with live.client() as c:
        big = event(name="test.big", payload={"blob": "x" * 1_600_000})
        r = c.post("/events", json=[event(name="test.big"), big])
        assert r.status_code == 413
        assert r.json()["detail"][0]["field"] == "1"
        assert _count(c, event={"name": ["test.big"]}) == 0
        ok = event(name="test.big", payload={"blob": "x" * 1_000_000})
        assert c.post("/events", json=[ok]).status_code == 204


def test_filter_pages_through_results(live) -> None:
    with live.client() as c:
        sent = [event(name="test.page", resource_id=f"test.page.{i:03d}") for i in range(120)]
        assert c.post("/events", json=sent).status_code == 204
        page = c.post("/events/filter", json={"filter": {"event": {"prefix": ["test.pa"]}, "order": "ASC"},
                                             "limit": 50}).json()
        assert page["total"] == 120
        seen = [e["id"] for e in page["events"]]
        while page["next_page"]:
            page = c.get(page["next_page"]).json()
            seen += [e["id"] for e in page["events"]]
        assert len(seen) == 120 and set(seen) == {e["id"] for e in sent}
        assert c.post("/events/filter", json={"limit": 51}).status_code == 422


def test_filter_by_resource_labels_related_and_exclusions(live) -> None:
    with live.client() as c:
        a = event(name="test.lbl.a", resource={"prefect.resource.id": "test.lbl.1", "env": "prod"})
        b = event(name="test.lbl.b", resource={"prefect.resource.id": "test.lbl.2", "env": "dev"},
                  related=[{"prefect.resource.id": "prefect.flow.9", "prefect.resource.role": "flow"}])
        assert c.post("/events", json=[a, b]).status_code == 204

        def ids(flt):
            r = c.post("/events/filter", json={"filter": flt})
            assert r.status_code == 200, r.text
            return {e["id"] for e in r.json()["events"]}

        assert ids({"resource": {"labels": {"env": "prod"}}}) == {a["id"]}
        assert ids({"resource": {"id_prefix": ["test.lbl."]}, "event": {"exclude_name": ["test.lbl.a"]}}) == {b["id"]}
        assert ids({"related": {"role": ["flow"]}}) == {b["id"]}
        assert ids({"any_resource": {"id": ["prefect.flow.9"]}}) == {b["id"]}
        assert ids({"event": {"prefix": ["test.lbl."]}, "text": {"query": "prod"}}) == {a["id"]}
        r = c.post("/events/filter", json={"filter": {"bogus": 1}})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "filter.bogus"


def test_websocket_ingest_one_event_per_frame(live) -> None:
    from websockets.sync.client import connect

    url = live.base_url.replace("http", "ws") + "/api/events/in"
    sent = [event(name="test.ws") for _ in range(50)]
    with connect(url, additional_headers=live.headers()) as ws:
        for e in sent:
            ws.send(json.dumps(e))
        ws.send("not json")
        reply = json.loads(ws.recv(timeout=5))
        assert reply["type"] == "error"
    with live.client() as c:
        wait_for(lambda: _count(c, event={"name": ["test.ws"]}) == 50)
    # Prefect clients authenticate with a first frame instead of a header
    with connect(url) as ws:
        ws.send(json.dumps({"type": "auth", "token": live.token}))
        ws.send(json.dumps(event(name="test.ws2")))
    with live.client() as c:
        wait_for(lambda: _count(c, event={"name": ["test.ws2"]}) == 1)


def test_websocket_without_a_valid_token_is_closed(live) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = live.base_url.replace("http", "ws") + "/api/events/in"
    with connect(url) as ws:
        ws.send(json.dumps({"type": "auth", "token": "wrong"}))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert uuid.UUID(event()["id"])


def test_events_outside_the_common_shape_are_stored_as_the_event_model_normalises_them(live) -> None:
    """A batch mixing plain events with an offset time and an uppercase id takes the Event model path for the
    whole batch; the stored events read back in the engine's form either way."""
    plain = event(name="test.shape", occurred="2024-05-01T10:00:00+00:00")
    offset = event(name="test.shape", occurred="2024-05-01T12:00:00.5+02:00")
    upper = event(name="test.shape", occurred="2024-05-01T10:00:01Z")
    upper["id"] = upper["id"].upper()
    with live.client() as c:
        assert c.post("/events", json=[plain]).status_code == 204
        assert c.post("/events", json=[offset, upper]).status_code == 204
        got = c.post("/events/filter", json={"filter": {"event": {"name": ["test.shape"]}, "order": "ASC",
                                                        "occurred": {"since": "2024-05-01T00:00:00Z"}}}).json()
    expected = {plain["id"]: "2024-05-01T10:00:00Z", offset["id"]: "2024-05-01T10:00:00.500000Z",
                upper["id"].lower(): "2024-05-01T10:00:01Z"}
    assert {e["id"]: e["occurred"] for e in got["events"]} == expected
    with live.app.state.ctx.store.reader.connect() as conn:
        bodies = [json.loads(r[0]) for r in conn.exec_driver_sql(
            "SELECT body FROM events WHERE event = 'test.shape'")]
    assert {b["id"]: b["occurred"] for b in bodies} == expected  # as written, not only as read back
