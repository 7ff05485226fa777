"""Blocks API: a block that an automation still names cannot be deleted (409 naming the automations), and the
check and the delete are one write transaction, so a concurrent automation write cannot slip in between."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.server.helpers import reactive
from tocsin.clock import SystemClock
from tocsin.delivery.references import BlockInUse, check_block_references
from tocsin.errors import ValidationFailed
from tocsin.secrets import SecretBox
from tocsin.server import services
from tocsin.server.vault import Vault
from tocsin.store import Store
from tocsin.store import automations as automation_rows
from tocsin.store import blocks as block_rows

SLACK = {"url": "https://hooks.slack.com/services/T/B/x"}


def _block(c: Any, name: str = "slack", block_type: str = "slack-webhook", data: Any = None) -> str:
    r = c.post("/blocks/", json={"name": name, "type": block_type, "data": data or SLACK})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _notify(block_id: str) -> dict[str, Any]:
    return {"type": "send-notification", "block_document_id": block_id, "body": "b"}


def test_a_block_in_use_is_not_deleted_and_the_409_names_its_automations(live) -> None:
    with live.client() as c:
        slack = _block(c)
        hook = _block(c, "hook", "webhook", {"url": "https://example.com/hook"})
        first = c.post("/automations/", json={"name": "b-first", "trigger": reactive(),
                                              "actions": [{"type": "do-nothing"}, _notify(slack)]}).json()
        second = c.post("/automations/", json={"name": "a-second", "trigger": reactive(),
                                               "actions_on_resolve": [_notify(slack)],
                                               "actions": [{"type": "call-webhook", "block_document_id": hook}]})
        second = second.json()
        c.post("/automations/", json={"name": "other", "trigger": reactive(), "actions": [{"type": "do-nothing"}]})
        before = c.get(f"/blocks/{slack}").json()

        r = c.delete(f"/blocks/{slack}")
        assert r.status_code == 409
        body = r.json()
        assert body["block_id"] == slack
        assert body["automations"] == [  # by name
            {"id": second["id"], "name": "a-second", "fields": ["actions_on_resolve[0].block_document_id"]},
            {"id": first["id"], "name": "b-first", "fields": ["actions[1].block_document_id"]},
        ]
        assert "still used by 2 automations" in body["detail"] and "nothing was deleted" in body["detail"]
        assert "'a-second'" in body["detail"] and first["id"] in body["detail"]
        assert c.get(f"/blocks/{slack}").json() == before  # nothing deleted
        assert c.delete(f"/blocks/{hook}").json()["automations"] == [
            {"id": second["id"], "name": "a-second", "fields": ["actions[0].block_document_id"]}
        ]

        # once no automation names it, it goes
        assert c.put(f"/automations/{first['id']}", json={"name": "b-first", "trigger": reactive(),
                                                          "actions": [{"type": "do-nothing"}]}).status_code == 204
        assert c.delete(f"/blocks/{slack}").json()["automations"] == [
            {"id": second["id"], "name": "a-second", "fields": ["actions_on_resolve[0].block_document_id"]}
        ]
        assert c.delete(f"/automations/{second['id']}").status_code == 204
        assert c.delete(f"/blocks/{slack}").status_code == 204
        assert c.get(f"/blocks/{slack}").status_code == 404
        assert c.delete(f"/blocks/{slack}").status_code == 404
        assert c.delete(f"/blocks/{hook}").status_code == 204


def test_block_and_secret_routes_still_answer_as_before(live) -> None:
    with live.client() as c:
        bad = c.post("/blocks/", content=b"{not json", headers={"Content-Type": "application/json"})
        assert bad.status_code == 422 and "not valid JSON" in bad.json()["detail"][0]["msg"]
        assert c.put(f"/blocks/{uuid.uuid4()}", content=b"[", headers={"Content-Type": "application/json"}
                     ).status_code == 422
        assert c.put(f"/blocks/{uuid.uuid4()}", json={"name": "x", "type": "slack-webhook", "data": SLACK}
                     ).status_code == 404
        ids = [_block(c, f"s{i}") for i in range(3)]
        assert [b["name"] for b in c.post("/blocks/filter", json={"limit": 2, "offset": 1}).json()] == ["s1", "s2"]
        assert len(c.post("/blocks/filter").json()) == 3
        put = c.put(f"/blocks/{ids[0]}", json={"name": "s0-renamed", "type": "slack-webhook",
                                               "data": {"url": {"secret": True}}})
        assert put.status_code == 200 and put.json()["data"]["url"] == {"secret": True}
        s = c.post("/secrets/", json={"name": "tok", "value": "v1-secret"})
        assert s.status_code == 201 and "v1-secret" not in s.text
        assert c.put(f"/secrets/{s.json()['id']}", json={"value": "v2-secret"}).json()["version"] == 2
        assert [x["name"] for x in c.post("/secrets/filter", json={"limit": 5}).json()] == ["tok"]
        assert c.delete(f"/secrets/{s.json()['id']}").status_code == 204


# -- the check and the delete are one transaction ----------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: Any, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tocsin.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    opened = Store.open(url)
    yield opened
    opened.close()


def _in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_delete_waits_for_an_automation_write_naming_the_block_and_is_refused(store) -> None:
    clock = SystemClock()
    vault = Vault(store, clock, SecretBox([Fernet.generate_key()]))
    block_id = vault.create_block({"name": "slack", "type": "slack-webhook", "data": SLACK})["id"]
    doc = services.validate({"name": "racer", "trigger": reactive(), "actions": [_notify(block_id)]})
    with store.write() as conn:  # an automation write in progress: the block checked, the row written
        check_block_references(conn, doc)
        automation_id = automation_rows.create(conn, str(uuid.uuid4()), doc, clock.now())["id"]
        thread, out = _in_thread(lambda: vault.delete_block(block_id))
        time.sleep(0.3)
        assert thread.is_alive(), out  # the delete waits for this transaction
    thread.join(10)
    assert isinstance(out.get("error"), BlockInUse), out
    assert out["error"].automations == [
        {"id": automation_id, "name": "racer", "fields": ["actions[0].block_document_id"]}
    ]
    assert vault.get_block(block_id)["name"] == "slack"


def test_an_automation_write_waits_for_a_delete_of_its_block_and_is_refused(store) -> None:
    clock = SystemClock()
    vault = Vault(store, clock, SecretBox([Fernet.generate_key()]))
    block_id = vault.create_block({"name": "slack", "type": "slack-webhook", "data": SLACK})["id"]
    body = {"name": "racer", "trigger": reactive(), "actions": [_notify(block_id)]}
    with store.write() as conn:  # a delete in progress: the block locked and removed, not yet committed
        assert block_rows.lock(conn, block_id) and block_rows.remove(conn, block_id)
        thread, out = _in_thread(lambda: services.create(store, clock, body))
        time.sleep(0.3)
        assert thread.is_alive(), out
    thread.join(10)
    error = out.get("error")
    assert isinstance(error, ValidationFailed) and error.problems[0][0] == "actions[0].block_document_id", out
    with store.reader.connect() as conn:
        assert automation_rows.count(conn) == 0
