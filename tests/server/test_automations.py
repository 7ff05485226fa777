"""Automations API (Prefect shapes), trigger validation, PUT keeping windows, explainability, self-events."""

from __future__ import annotations

import time

from tests.server.helpers import automation, event, firings, reactive, wait_for


def test_create_read_replace_patch_delete(live) -> None:
    with live.client() as c:
        r = c.post("/automations/", json=automation("crud", reactive(), tags=["team-a"]))
        assert r.status_code == 201, r.text
        doc = r.json()
        assert {"id", "created", "updated"} <= set(doc) and doc["enabled"] is True
        assert doc["trigger"]["expect"] == ["test.ping"] and doc["trigger"]["id"]
        assert c.get(f"/automations/{doc['id']}").json() == doc
        body = automation("crud-renamed", reactive())
        assert c.put(f"/automations/{doc['id']}", json=body).status_code == 204
        assert c.get(f"/automations/{doc['id']}").json()["name"] == "crud-renamed"
        assert c.patch(f"/automations/{doc['id']}", json={"enabled": False}).status_code == 204
        assert c.get(f"/automations/{doc['id']}").json()["enabled"] is False
        assert c.patch(f"/automations/{doc['id']}", json={"name": "x"}).status_code == 422
        listed = c.post("/automations/filter", json={"automations": {"name": {"any_": ["crud-renamed"]}}}).json()
        assert [a["id"] for a in listed] == [doc["id"]]
        assert c.post("/automations/count").json() == 1
        assert c.delete(f"/automations/{doc['id']}").status_code == 204
        assert c.get(f"/automations/{doc['id']}").status_code == 404
        assert c.delete(f"/automations/{doc['id']}").status_code == 404
        assert c.put(f"/automations/{doc['id']}", json=body).status_code == 404


def test_invalid_trigger_is_rejected_with_its_field_path(live) -> None:
    with live.client() as c:
        r = c.post("/automations/", json=automation("bad", reactive(within=-1)))
        assert r.status_code == 422
        assert [d["field"] for d in r.json()["detail"]] == ["trigger.within"]
        r = c.post("/automations/", json=automation("bad", {"type": "compound", "require": 5, "within": None,
                                                            "triggers": [reactive()]}))
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "trigger.require"
        r = c.post("/automations/", json={**automation("bad", reactive()), "surprise": 1})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "surprise"
        r = c.post("/automations/", json={"trigger": reactive()})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "name"
        r = c.post("/automations/", content=b"{nope", headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert c.post("/automations/count").json() == 0


def test_reactive_automation_fires_once_per_threshold(live) -> None:
    with live.client() as c:
        aid = c.post("/automations/", json=automation("fires", reactive(threshold=2, within=60))).json()["id"]
        assert c.post("/events", json=[event(), event()]).status_code == 204
        fired = wait_for(lambda: firings(c, aid))
        assert len(fired) == 1 and fired[0]["triggering_event_id"]


def test_put_with_the_same_trigger_keeps_the_open_window(live) -> None:
    with live.client() as c:
        body = automation("keep", reactive(expect="test.keep", threshold=2, within=60))
        aid = c.post("/automations/", json=body).json()["id"]
        c.post("/events", json=[event("test.keep")])
        state = wait_for(lambda: c.get(f"/automations/{aid}/state").json()["windows"])
        assert state[0]["count"] == 1 and state[0]["deadline"]
        body["name"] = "keep, renamed"  # the trigger is unchanged: window survives
        body["trigger"]["id"] = "d5a1e1c4-0000-4000-8000-000000000000"  # ids from the client are replaced
        assert c.put(f"/automations/{aid}", json=body).status_code == 204
        c.post("/events", json=[event("test.keep")])
        assert len(wait_for(lambda: firings(c, aid))) == 1
        # a changed trigger starts from scratch
        body["trigger"]["threshold"] = 3
        c.post("/events", json=[event("test.keep")])
        live.worker.wait_idle()
        assert c.put(f"/automations/{aid}", json=body).status_code == 204
        c.post("/events", json=[event("test.keep"), event("test.keep")])
        live.worker.wait_idle()
        time.sleep(0.1)
        assert len(firings(c, aid)) == 1
        c.post("/events", json=[event("test.keep")])
        wait_for(lambda: len(firings(c, aid)) == 2)


def test_disabled_automation_does_not_fire(live) -> None:
    with live.client() as c:
        aid = c.post("/automations/", json=automation("off", reactive(expect="test.off"))).json()["id"]
        c.patch(f"/automations/{aid}", json={"enabled": False})
        c.post("/events", json=[event("test.off")])
        live.worker.wait_idle()
        assert firings(c, aid) == []
        c.patch(f"/automations/{aid}", json={"enabled": True})
        c.post("/events", json=[event("test.off")])
        wait_for(lambda: firings(c, aid))


def test_state_shows_open_windows_and_recent_firings(live) -> None:
    with live.client() as c:
        trig = reactive(expect="test.win", threshold=3, within=120, for_each=["prefect.resource.id"])
        aid = c.post("/automations/", json=automation("explain", trig)).json()["id"]
        c.post("/events", json=[event("test.win", "test.a"), event("test.win", "test.b"),
                                event("test.win", "test.a")])
        live.worker.wait_idle()
        state = c.get(f"/automations/{aid}/state").json()
        counts = {tuple(w["bucket_key"]): w["count"] for w in state["windows"]}
        assert counts == {("test.a",): 2, ("test.b",): 1}
        assert all(w["start"] < w["end"] == w["deadline"] for w in state["windows"])
        assert state["recent_firings"] == []
        assert c.get("/automations/not-a-uuid/state").status_code == 404


def test_self_events_are_emitted_and_can_trigger_other_automations(live) -> None:
    with live.client() as c:
        watched = c.post("/automations/", json=automation("watched", reactive(expect="test.meta"))).json()["id"]
        meta = reactive(expect="tocsin.automation.triggered",
                        match={"prefect.resource.id": f"prefect.automation.{watched}"})
        meta_id = c.post("/automations/", json=automation("meta", meta)).json()["id"]
        c.post("/events", json=[event("test.meta")])
        wait_for(lambda: firings(c, meta_id))
        names = {e["event"] for e in c.post("/events/filter", json={
            "filter": {"event": {"prefix": ["tocsin.automation."]}}}).json()["events"]}
        assert {"tocsin.automation.created", "tocsin.automation.triggered"} <= names


def test_an_automation_never_fires_on_its_own_firing_events(live) -> None:
    with live.client() as c:
        # fires on every tocsin.automation.triggered event, including its own: must not loop
        loop = c.post("/automations/", json=automation("loop", reactive(expect="tocsin.automation.triggered")))
        loop_id = loop.json()["id"]
        other = c.post("/automations/", json=automation("other", reactive(expect="test.loop"))).json()["id"]
        c.post("/events", json=[event("test.loop")])
        wait_for(lambda: firings(c, other))
        wait_for(lambda: firings(c, loop_id))
        time.sleep(0.3)
        live.worker.wait_idle()
        assert len(firings(c, loop_id)) == 1  # fired on other's firing, not on its own


def test_templates_validate(live) -> None:
    with live.client() as c:
        ok = c.post("/templates/validate", content="Hello {{ event.event }}",
                    headers={"content-type": "text/plain"})
        assert ok.status_code == 204
        bad = c.post("/templates/validate", json="line one\n{{ broken")
        assert bad.status_code == 422 and bad.json()["error"]["line"] == 2


def test_metrics_are_exposed(live) -> None:
    with live.client() as c:
        c.post("/events", json=[event()])
        live.worker.wait_idle()
        text = c.get(live.base_url + "/metrics").text
        assert "tocsin_events_ingested_total 1.0" in text
        assert "tocsin_event_to_firing_seconds_bucket" in text
