"""Automation operations behind the routes: validate Prefect automation JSON, write it, and emit the
lifecycle self-event in the same transaction (the evaluator picks the change up from the event stream).

Trigger ids are server-generated, as in Prefect. Unlike Prefect, a PUT whose trigger means the same thing
(equal JSON once ids are removed) keeps the stored trigger and its ids, so the evaluator keeps its windows.
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tocsin.clock import Clock
from tocsin.delivery.references import check_block_references
from tocsin.errors import NotFound, ValidationFailed
from tocsin.schemas.triggers import parse_trigger
from tocsin.server import self_events
from tocsin.store import Store
from tocsin.store import automations as automation_rows
from tocsin.store.events import insert_events


class AutomationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    trigger: dict[str, Any]
    actions: list[dict[str, Any]] = Field(default_factory=list)
    actions_on_trigger: list[dict[str, Any]] = Field(default_factory=list)
    actions_on_resolve: list[dict[str, Any]] = Field(default_factory=list)
    owner_resource: str | None = None


class AutomationUpdate(AutomationCreate):
    pass


class AutomationPartialUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


def strip_ids(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: strip_ids(v) for k, v in data.items() if k != "id"}
    if isinstance(data, list):
        return [strip_ids(v) for v in data]
    return data


def canonical_trigger(trigger_json: dict[str, Any]) -> Any:
    """A trigger's meaning: its normalised JSON without ids."""
    return strip_ids(parse_trigger(strip_ids(trigger_json)).model_dump(mode="json"))


def _action_validator() -> Any:
    try:
        module = importlib.import_module("tocsin.schemas.actions")
    except ImportError:
        return None
    return getattr(module, "validate_actions", None)


def _templating_available() -> bool:
    try:
        importlib.import_module("tocsin.templating")
    except ImportError:
        return False
    return True


def validate(data: Any, model: type[AutomationCreate] = AutomationCreate) -> dict[str, Any]:
    """Validate an automation body; returns the document to store (trigger with fresh ids)."""
    if not isinstance(data, dict):
        raise ValidationFailed([("", "expected a JSON object describing an automation")])
    try:
        body = model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc) from None
    try:
        trigger = parse_trigger(strip_ids(body.trigger))
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, prefix="trigger") from None
    doc = body.model_dump()
    doc["trigger"] = trigger.model_dump(mode="json")
    check = _action_validator()
    problems: list[tuple[str, str]] = []
    for field in ("actions", "actions_on_trigger", "actions_on_resolve"):
        if check is not None:
            try:
                doc[field] = _dump_actions(check(doc[field], field, check_templates=_templating_available()))
            except ValidationFailed as exc:
                problems += exc.problems
        else:
            for i, action in enumerate(doc[field]):
                if not isinstance(action.get("type"), str):
                    problems.append((f"{field}[{i}].type", "every action needs a string `type`"))
    if problems:
        raise ValidationFailed(problems)
    if doc.get("owner_resource") is None:
        doc.pop("owner_resource", None)
    return doc


def _dump_actions(actions: Any) -> list[dict[str, Any]]:
    out = []
    for action in actions:
        out.append(action.model_dump(mode="json") if isinstance(action, BaseModel) else dict(action))
    return out


def create(store: Store, clock: Clock, data: Any) -> dict[str, Any]:
    doc = validate(data)
    now = clock.now()
    with store.write() as conn:
        check_block_references(conn, doc)
        stored = automation_rows.create(conn, str(uuid.uuid4()), doc, now)
        insert_events(conn, [self_events.lifecycle_event(self_events.CREATED, stored, now)])
    return stored


def replace(store: Store, clock: Clock, automation_id: str, data: Any) -> dict[str, Any]:
    doc = validate(data, AutomationUpdate)
    now = clock.now()
    with store.write() as conn:
        current = automation_rows.get_for_update(conn, automation_id)
        if current is None:
            raise NotFound(f"automation {automation_id} not found")
        check_block_references(conn, doc)
        if canonical_trigger(current["trigger"]) == strip_ids(doc["trigger"]):
            doc["trigger"] = current["trigger"]  # same meaning: keep the ids, and with them the windows
        automation_rows.replace(conn, automation_id, doc, now)
        stored = automation_rows.get(conn, automation_id)
        assert stored is not None
        insert_events(conn, [self_events.lifecycle_event(self_events.UPDATED, stored, now)])
    return stored


def set_enabled(store: Store, clock: Clock, automation_id: str, data: Any) -> dict[str, Any]:
    try:
        patch = AutomationPartialUpdate.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc) from None
    now = clock.now()
    with store.write() as conn:
        current = automation_rows.get_for_update(conn, automation_id)
        if current is None:
            raise NotFound(f"automation {automation_id} not found")
        automation_rows.replace(conn, automation_id, {"enabled": patch.enabled}, now)
        stored = automation_rows.get(conn, automation_id)
        assert stored is not None
        insert_events(conn, [self_events.lifecycle_event(self_events.UPDATED, stored, now)])
    return stored


def delete(store: Store, clock: Clock, automation_id: str) -> None:
    now = clock.now()
    with store.write() as conn:
        current = automation_rows.get_for_update(conn, automation_id)
        if current is None or not automation_rows.remove(conn, automation_id):
            raise NotFound(f"automation {automation_id} not found")
        insert_events(conn, [self_events.lifecycle_event(self_events.DELETED, current, now)])
