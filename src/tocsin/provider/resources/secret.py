"""tocsin_secret: a named secret value stored (encrypted) by the engine; the value is never read back.

Two ways to give the value: `value` (sensitive, kept in state) or `value_wo` (write-only, Terraform >= 1.11:
never in state or plan; bump `value_wo_version` to send a new one). A rotation made through the API (the engine's
`version` moved) shows as an update that sends the configured value again. Import takes an id or a name; after
an import the value is unknown to Terraform, so the next apply re-sends it.
"""

from __future__ import annotations

from typing import Any

from tocsin.errors import NotFound
from tocsin.provider.framework import NUMBER, STRING, Attribute, Diagnostics, Resource, Schema, State
from tocsin.provider.resources.automation import _is_uuid, _str

SCHEMA = Schema(
    description="A secret value that actions and blocks refer to by name.",
    attributes=(
        Attribute("id", STRING, "Secret id assigned by the engine.", computed=True),
        Attribute("name", STRING, "Secret name; changing it replaces the secret.", required=True, force_new=True),
        Attribute("value", STRING, "The value (kept in state, sensitive). Prefer value_wo.", optional=True,
                  sensitive=True),
        Attribute("value_wo", STRING, "The value, write-only: never stored in state or plan.", optional=True,
                  sensitive=True, write_only=True),
        Attribute("value_wo_version", NUMBER, "Change this number to send value_wo again.", optional=True),
        Attribute("version", NUMBER, "The engine's version of the value (1, 2, ...).", computed=True),
        Attribute("updated", STRING, "When the value last changed (RFC 3339).", computed=True),
    ),
)


class SecretResource(Resource):
    type_name = "tocsin_secret"
    schema = SCHEMA
    volatile = ("version", "updated")

    def validate(self, config: State, diags: Diagnostics) -> None:
        value, value_wo = config.get("value"), config.get("value_wo")
        if value is not None and value_wo is not None:
            diags.error("Conflicting secret values", "set value or value_wo, not both", ("value_wo",))
        elif value is None and value_wo is None and "value" in config:
            diags.error("Missing secret value", "set value_wo (write-only, preferred) or value", ("value_wo",))
        if value_wo is not None and config.get("value_wo_version") is None:
            diags.warning("value_wo without value_wo_version",
                          "without value_wo_version a new value_wo is never sent; set value_wo_version = 1 and "
                          "bump it when the value changes", ("value_wo_version",))

    def to_state(self, server: dict[str, Any], prior: State | None) -> State:
        prior = prior or {}
        state = {
            "id": str(server["id"]),
            "name": server.get("name"),
            "value": prior.get("value"),
            "value_wo": None,
            "value_wo_version": prior.get("value_wo_version"),
            "version": server.get("version"),
            "updated": _str(server.get("updated")),
        }
        if prior.get("version") is not None and server.get("version") != prior.get("version"):
            # rotated outside Terraform: forget what we sent so the plan shows an update re-sending it
            state["value"] = None
            state["value_wo_version"] = None
        return state

    @staticmethod
    def _value(planned: State, config: State) -> str:
        value = config.get("value_wo")
        return str(value if value is not None else planned.get("value") or "")

    def create(self, planned: State, config: State, diags: Diagnostics) -> tuple[State, dict[str, Any]]:
        server = self.client.create_secret(planned["name"], self._value(planned, config))
        return self.to_state(server, {**planned, "version": None}), {}

    def read(self, state: State, private: dict[str, Any], diags: Diagnostics) -> State | None:
        try:
            server = self.client.get_secret(state["id"])
        except NotFound:
            return None
        return self.to_state(server, state)

    def update(self, prior: State, planned: State, config: State, private: dict[str, Any],
               diags: Diagnostics) -> tuple[State, dict[str, Any]]:
        server = self.client.update_secret(prior["id"], self._value(planned, config))
        return self.to_state(server, {**planned, "version": None}), private

    def delete(self, state: State, diags: Diagnostics) -> None:
        self.client.delete_secret(state["id"])

    def import_(self, import_id: str, diags: Diagnostics) -> State | None:
        server = self.client.get_secret(import_id) if _is_uuid(import_id) else self.client.find_secret(import_id)
        return self.to_state(server, None)
