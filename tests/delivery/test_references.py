"""Automations are checked against the blocks their actions name; secret names are unique (409)."""

from __future__ import annotations

import uuid

from tests.delivery.conftest import make_block, reactive


def test_an_action_naming_a_missing_block_is_rejected_with_its_path(engine) -> None:
    missing = str(uuid.uuid4())
    with engine.client() as c:
        r = c.post(
            "/automations/",
            json={
                "name": "x",
                "trigger": reactive("a"),
                "actions": [
                    {"type": "do-nothing"},
                    {"type": "send-notification", "block_document_id": missing, "body": "b"},
                ],
            },
        )
        assert r.status_code == 422
        fields = [d["field"] for d in r.json()["detail"]]
        assert fields == ["actions[1].block_document_id"]
        assert missing in r.json()["detail"][0]["msg"]


def test_call_webhook_needs_a_webhook_block_and_notifications_need_a_notifier(engine) -> None:
    with engine.client() as c:
        slack = make_block(c, "slack-webhook", {"url": "https://hooks.slack.com/services/T/B/x"})
        hook = make_block(c, "webhook", {"url": "https://example.com/hook"})
        r = c.post(
            "/automations/",
            json={
                "name": "x",
                "trigger": reactive("a"),
                "actions_on_trigger": [
                    {"type": "call-webhook", "block_document_id": slack},
                    {"type": "send-notification", "block_document_id": hook, "body": "b"},
                ],
            },
        )
        assert r.status_code == 422
        assert [d["field"] for d in r.json()["detail"]] == [
            "actions_on_trigger[0].block_document_id",
            "actions_on_trigger[1].block_document_id",
        ]
        ok = c.post(
            "/automations/",
            json={
                "name": "x",
                "trigger": reactive("a"),
                "actions": [
                    {"type": "call-webhook", "block_document_id": hook},
                    {"type": "send-notification", "block_document_id": slack, "body": "b"},
                ],
            },
        )
        assert ok.status_code == 201, ok.text
        put = c.put(
            f"/automations/{ok.json()['id']}",
            json={
                "name": "x",
                "trigger": reactive("a"),
                "actions": [{"type": "call-webhook", "block_document_id": str(uuid.uuid4())}],
            },
        )
        assert put.status_code == 422


def test_a_secret_name_is_unique(engine) -> None:
    with engine.client() as c:
        assert c.post("/secrets/", json={"name": "dup", "value": "v1-abcdef"}).status_code == 201
        again = c.post("/secrets/", json={"name": "dup", "value": "v2-abcdef"})
        assert again.status_code == 409 and "v2-abcdef" not in again.text
        listed = c.post("/secrets/filter", json={"limit": 10, "offset": 0}).json()
        assert [s["name"] for s in listed] == ["dup"] and set(listed[0]) == {
            "id",
            "name",
            "version",
            "created",
            "updated",
        }
