"""tocsin_block: resource and data source for a block (typed configuration such as a Slack webhook).

`data` is a sensitive JSON object kept in state; `data_wo` is a write-only JSON object (Terraform >= 1.11) merged
over it when sending, never stored: bump `data_wo_version` to send a new value. The engine answers secret fields
as {"secret": true} markers, so reads compare only what can be compared: fields sent through data_wo (their names
are kept in private state) and masked fields are skipped. Import takes a block id (or a unique name).
"""

from __future__ import annotations

import json
from typing import Any

from tocsin.errors import NotFound
from tocsin.provider import checks
from tocsin.provider.framework import NUMBER, STRING, Attribute, DataSource, Diagnostics, Resource, Schema, State
from tocsin.provider.normalize import canonical_json, dumps
from tocsin.provider.resources.automation import _is_uuid, _require_id_or_name

SECRET_MARKER = {"secret": True}

SCHEMA = Schema(
    description="A block: typed configuration (webhook URLs, credentials) that actions refer to by id.",
    attributes=(
        Attribute("id", STRING, "Block id assigned by the engine.", computed=True),
        Attribute("name", STRING, "Block name.", required=True),
        Attribute("type", STRING, "Block type, e.g. slack-webhook; changing it replaces the block.", required=True,
                  force_new=True),
        Attribute("data", STRING, "Block fields as a JSON object (stored in state, sensitive).", optional=True,
                  sensitive=True),
        Attribute("data_wo", STRING, "Secret block fields as a JSON object, write-only: never stored in state or "
                  "plan. Merged over data.", optional=True, sensitive=True, write_only=True),
        Attribute("data_wo_version", NUMBER, "Change this number to send data_wo again.", optional=True),
    ),
)


def _object(attribute: str, text: Any) -> dict[str, Any]:
    return checks.parse_json(attribute, text, dict) if isinstance(text, str) else {}  # type: ignore[no-any-return]


def _visible(server_data: dict[str, Any], wo_keys: set[str]) -> dict[str, Any]:
    return {k: v for k, v in server_data.items() if k not in wo_keys}


def _same_data(state_text: Any, server_data: dict[str, Any], wo_keys: set[str]) -> bool:
    """Does the state's `data` say what the engine has (masked secret fields match any value)?"""
    try:
        mine = json.loads(state_text) if isinstance(state_text, str) else {}
    except ValueError:
        return False
    theirs = _visible(server_data, wo_keys)
    if not isinstance(mine, dict) or set(mine) != set(theirs):
        return False
    return all(theirs[k] == SECRET_MARKER or theirs[k] == mine[k] for k in mine)


class BlockResource(Resource):
    type_name = "tocsin_block"
    schema = SCHEMA
    semantic_json = {"data": canonical_json}

    def validate(self, config: State, diags: Diagnostics) -> None:
        merged: dict[str, Any] = {}
        known = True
        for attr in ("data", "data_wo"):
            value = config.get(attr)
            if value is None:
                continue
            if not isinstance(value, str):
                known = False
                continue
            try:
                merged.update(_object(attr, value))
            except Exception as exc:  # noqa: BLE001
                diags.from_exception(exc, "Invalid block data", attribute=attr)
                known = False
        if known and isinstance(config.get("type"), str) and not diags.has_errors:
            try:
                checks.check_block(config["type"], merged)
            except Exception as exc:  # noqa: BLE001
                diags.from_exception(exc, "Invalid block data", attribute="data")

    def to_state(self, server: dict[str, Any], prior: State | None, wo_keys: set[str]) -> State:
        prior = prior or {}
        server_data = server.get("data") or {}
        if _same_data(prior.get("data"), server_data, wo_keys):
            data = prior.get("data")
        else:
            visible = _visible(server_data, wo_keys)
            data = dumps(visible) if visible or prior.get("data") is not None else None
        return {
            "id": str(server["id"]),
            "name": server.get("name"),
            "type": server.get("type", prior.get("type")),
            "data": data,
            "data_wo": None,
            "data_wo_version": prior.get("data_wo_version"),
        }

    def _payload(self, planned: State, config: State) -> tuple[dict[str, Any], set[str]]:
        data = _object("data", planned.get("data"))
        secret = _object("data_wo", config.get("data_wo"))
        return {"name": planned["name"], "type": planned["type"], "data": {**data, **secret}}, set(secret)

    def create(self, planned: State, config: State, diags: Diagnostics) -> tuple[State, dict[str, Any]]:
        body, wo_keys = self._payload(planned, config)
        server = self.client.create_block(body)
        return self.to_state(server, planned, wo_keys), {"wo_keys": sorted(wo_keys)}

    def read(self, state: State, private: dict[str, Any], diags: Diagnostics) -> State | None:
        try:
            server = self.client.get_block(state["id"])
        except NotFound:
            return None
        return self.to_state(server, state, set(private.get("wo_keys", [])))

    def update(self, prior: State, planned: State, config: State, private: dict[str, Any],
               diags: Diagnostics) -> tuple[State, dict[str, Any]]:
        body, wo_keys = self._payload(planned, config)
        server = self.client.update_block(prior["id"], body)
        return self.to_state(server, planned, wo_keys), {"wo_keys": sorted(wo_keys)}

    def delete(self, state: State, diags: Diagnostics) -> None:
        self.client.delete_block(state["id"])

    def import_(self, import_id: str, diags: Diagnostics) -> State | None:
        server = self.client.get_block(import_id) if _is_uuid(import_id) else self.client.find_block(import_id)
        return self.to_state(server, None, set())


DATA_SCHEMA = Schema(
    description="Look up a block by id or by name. Secret fields read back as {\"secret\": true}.",
    attributes=tuple(
        Attribute(a.name, a.type, a.description, optional=a.name in ("id", "name"), computed=True,
                  sensitive=a.sensitive)
        for a in SCHEMA.attributes if not a.write_only and a.name != "data_wo_version"
    ),
)


class BlockDataSource(DataSource):
    type_name = "tocsin_block"
    schema = DATA_SCHEMA

    def validate(self, config: State, diags: Diagnostics) -> None:
        _require_id_or_name(config, diags)

    def read(self, config: State, diags: Diagnostics) -> State | None:
        server = self.client.get_block(config["id"]) if config.get("id") else self.client.find_block(config["name"])
        return {
            "id": str(server["id"]),
            "name": server.get("name"),
            "type": server.get("type"),
            "data": dumps(server.get("data") or {}),
        }
