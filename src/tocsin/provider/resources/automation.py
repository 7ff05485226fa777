"""tocsin_automation: resource and data source for an engine automation (Prefect's automation JSON).

`trigger` and the three action lists are JSON strings. Plans compare them semantically (normalize.py), so the
engine's filled-in defaults and fresh trigger ids never show as a diff, while an edit made through the API does
(an in-place update back to the configuration). Import takes an automation id (or a unique name).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tocsin.errors import NotFound
from tocsin.provider import checks
from tocsin.provider.cty import Unknown
from tocsin.provider.framework import (
    BOOL,
    LIST_OF_STRING,
    STRING,
    Attribute,
    DataSource,
    Diagnostics,
    Resource,
    Schema,
    State,
)
from tocsin.provider.normalize import canonical_actions, canonical_trigger, dumps, strip_trigger_ids

ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")

SCHEMA = Schema(
    description="An automation: a trigger and the actions run when it fires or resolves.",
    attributes=(
        Attribute("id", STRING, "Automation id assigned by the engine.", computed=True),
        Attribute("name", STRING, "Automation name.", required=True),
        Attribute("description", STRING, "Free text; defaults to \"\".", optional=True, computed=True, default=""),
        Attribute("enabled", BOOL, "Whether the automation runs; defaults to true.", optional=True, computed=True,
                  default=True),
        Attribute("tags", LIST_OF_STRING, "Tags; defaults to [].", optional=True, computed=True, default=[]),
        Attribute("trigger", STRING, "Trigger as JSON (Prefect's trigger grammar), e.g. jsonencode({...}).",
                  required=True),
        Attribute("actions", STRING, "JSON list of actions run on every firing; defaults to \"[]\".",
                  optional=True, computed=True, default="[]"),
        Attribute("actions_on_trigger", STRING, "JSON list of actions run when the trigger enters Triggered.",
                  optional=True, computed=True, default="[]"),
        Attribute("actions_on_resolve", STRING, "JSON list of actions run when the trigger resolves.",
                  optional=True, computed=True, default="[]"),
        Attribute("created", STRING, "Creation time (RFC 3339).", computed=True),
        Attribute("updated", STRING, "Last update time (RFC 3339).", computed=True),
    ),
)


def _body(planned: State) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": planned["name"],
        "description": planned["description"] or "",
        "enabled": True if planned["enabled"] is None else planned["enabled"],
        "tags": list(planned["tags"] or []),
        "trigger": json.loads(planned["trigger"]),
    }
    for key in ACTION_LISTS:
        body[key] = json.loads(planned[key] or "[]")
    return body


def _text(value: Any) -> str:
    return dumps(value if value is not None else [])


class AutomationResource(Resource):
    type_name = "tocsin_automation"
    schema = SCHEMA
    semantic_json = {"trigger": canonical_trigger, **{k: canonical_actions for k in ACTION_LISTS}}
    volatile = ("updated",)

    # -- schema-level checks ---------------------------------------------------------------------------------

    def validate(self, config: State, diags: Diagnostics) -> None:
        trigger = config.get("trigger")
        if isinstance(trigger, str):
            try:
                checks.check_trigger(trigger)
            except Exception as exc:  # noqa: BLE001
                diags.from_exception(exc, "Invalid trigger", attribute="trigger")
        for key in ACTION_LISTS:
            text = config.get(key)
            if isinstance(text, str):
                try:
                    checks.check_actions(key, text)
                except Exception as exc:  # noqa: BLE001
                    diags.from_exception(exc, "Invalid actions", attribute=key)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def to_state(self, server: dict[str, Any], prior: State | None) -> State:
        """Map the engine's automation JSON to state, keeping the prior texts that mean the same."""
        prior = prior or {}
        state: State = {
            "id": str(server["id"]),
            "name": server.get("name"),
            "description": server.get("description") or "",
            "enabled": bool(server.get("enabled", True)),
            "tags": list(server.get("tags") or []),
            "trigger": self.keep_if_same("trigger", prior.get("trigger"), dumps(strip_trigger_ids(server.get("trigger")))),
            "created": _str(server.get("created")),
            "updated": _str(server.get("updated")),
        }
        for key in ACTION_LISTS:
            state[key] = self.keep_if_same(key, prior.get(key), _text(server.get(key)))
        return state

    def create(self, planned: State, config: State, diags: Diagnostics) -> tuple[State, dict[str, Any]]:
        return self.to_state(self.client.create_automation(_body(planned)), planned), {}

    def read(self, state: State, private: dict[str, Any], diags: Diagnostics) -> State | None:
        try:
            server = self.client.get_automation(state["id"])
        except NotFound:
            return None  # deleted outside Terraform: drop from state so the next plan re-creates it
        return self.to_state(server, state)

    def update(self, prior: State, planned: State, config: State, private: dict[str, Any],
               diags: Diagnostics) -> tuple[State, dict[str, Any]]:
        changed = {k for k in planned if planned[k] != prior.get(k) and planned[k] is not Unknown}
        if changed == {"enabled"}:  # a toggle: PATCH keeps everything else (and the window state) untouched
            self.client.set_automation_enabled(prior["id"], bool(planned["enabled"]))
            server = self.client.get_automation(prior["id"])
        else:
            server = self.client.update_automation(prior["id"], _body(planned))
        return self.to_state(server, planned), private

    def delete(self, state: State, diags: Diagnostics) -> None:
        self.client.delete_automation(state["id"])

    def import_(self, import_id: str, diags: Diagnostics) -> State | None:
        server = self.client.get_automation(import_id) if _is_uuid(import_id) \
            else self.client.find_automation(import_id)
        return self.to_state(server, None)


DATA_SCHEMA = Schema(
    description="Look up an automation by id or by name.",
    attributes=tuple(
        Attribute(a.name, a.type, a.description, optional=a.name in ("id", "name"), computed=True)
        for a in SCHEMA.attributes
    ),
)


class AutomationDataSource(DataSource):
    type_name = "tocsin_automation"
    schema = DATA_SCHEMA

    def validate(self, config: State, diags: Diagnostics) -> None:
        _require_id_or_name(config, diags)

    def read(self, config: State, diags: Diagnostics) -> State | None:
        server = (self.client.get_automation(config["id"]) if config.get("id")
                  else self.client.find_automation(config["name"]))
        return AutomationResource(self.provider).to_state(server, None)


def _require_id_or_name(config: State, diags: Diagnostics) -> None:
    if config.get("id") is None and config.get("name") is None:
        diags.error("Missing lookup key", "set id or name", ("id",))
    elif config.get("id") is not None and config.get("name") is not None:
        diags.error("Conflicting lookup keys", "set id or name, not both", ("name",))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
