"""The pager-duty block's `dedup` end to end: events fire automations in a real engine, the dispatcher sends
to a loopback PagerDuty, and the dedup_key values it sees say which notifications share an incident."""

from __future__ import annotations

import json
from typing import Any

from werkzeug import Request, Response

from tests.delivery.conftest import event, make_automation, make_block, outcomes, wait_for

KEY = "R0123456789abcdef0123456789abcd"


def _pagerduty(c: Any, sink: Any, source: str, **dedup: Any) -> str:
    base = sink.url_for("/").rstrip("/")
    return make_block(c, "pager-duty", {"routing_key": KEY, "api_base_url": base, "source": source, **dedup})


def _notify(block_id: str) -> dict[str, Any]:
    return {"type": "send-notification", "block_document_id": block_id,
            "subject": "{{ automation.name }} failed", "body": "db down"}


def test_dedup_firing_delivery_and_template_as_seen_by_pagerduty(engine, sink) -> None:
    seen: list[tuple[str, str, str]] = []  # (block source, delivery id, dedup_key)

    def record(request: Request) -> Response:
        body = json.loads(request.get_data())
        seen.append((body["payload"]["source"], request.headers["X-Tocsin-Delivery-Id"], body["dedup_key"]))
        return Response('{"status":"success"}', 202)

    sink.expect_request("/v2/enqueue").respond_with_handler(record)
    with engine.client() as c:
        by_firing = _pagerduty(c, sink, "firing")  # the default
        by_delivery = _pagerduty(c, sink, "delivery", dedup="delivery")
        by_automation = _pagerduty(c, sink, "automation", dedup="template", dedup_key_template="{{subject}}")
        by_id = _pagerduty(c, sink, "by-id", dedup="automation")
        etl = make_automation(c, "test.etl", [_notify(by_firing), _notify(by_firing), _notify(by_delivery),
                                              _notify(by_automation), _notify(by_id)])
        other = make_automation(c, "test.other", [_notify(by_automation), _notify(by_id)])
        for name in ("test.etl", "test.etl", "test.other"):  # two firings of etl, one of the other automation
            assert c.post("/events", json=[event(name)]).status_code == 204
        wait_for(lambda: len(outcomes(c, "tocsin.automation.action.executed")) == 12)
        etl_firings = {f["id"] for f in c.get(f"/automations/{etl}/state").json()["recent_firings"]}
        [other_firing] = [f["id"] for f in c.get(f"/automations/{other}/state").json()["recent_firings"]]
    assert len(seen) == 12 and len(etl_firings) == 2

    def keys(source: str) -> list[str]:
        return sorted(key for s, _, key in seen if s == source)

    # firing: the two actions of one firing share its id; the two firings are two incidents
    firing_keys = keys("firing")
    assert firing_keys == sorted([*etl_firings, *etl_firings])
    # delivery: each notification is its own incident, keyed by its delivery id
    assert all(key == delivery for s, delivery, key in seen if s == "delivery")
    assert len(set(keys("delivery"))) == 2 and not set(keys("delivery")) & (etl_firings | {other_firing})
    # template "{{subject}}": both firings of etl update one incident; the other automation has its own
    assert keys("automation") == ["auto-test.etl failed", "auto-test.etl failed", "auto-test.other failed"]
    # automation: every firing of an automation updates the one incident keyed by its id
    assert keys("by-id") == sorted([f"tocsin-automation-{etl}"] * 2 + [f"tocsin-automation-{other}"])
